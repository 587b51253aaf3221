import { useStdout } from 'ink';
import { useEffect, useReducer } from 'react';

export interface Size {
  columns: number;
  rows: number;
}

/** Terminal size, re-read on every 'resize' (SIGWINCH); 80x24 where the stream has none. */
export function useTerminalSize(override?: Partial<Size>): Size {
  const { stdout } = useStdout();
  const [, resized] = useReducer((x: number) => x + 1, 0);
  useEffect(() => {
    stdout.on('resize', resized);
    return () => {
      stdout.off('resize', resized);
    };
  }, [stdout]);
  return { columns: override?.columns ?? (stdout.columns || 80), rows: override?.rows ?? (stdout.rows || 24) };
}
