import { Text } from 'ink';
import type { ReactElement } from 'react';
import { useTone } from './theme.js';

/** A y/n question; the keys are handled by the app, which owns input. */
export function ConfirmPrompt({ question }: { question: string }): ReactElement {
  const tone = useTone();
  return (
    <Text wrap="truncate" inverse {...tone('warn')}>
      {question} [y/n]
    </Text>
  );
}
