import { Box, Text } from 'ink';
import type { ReactElement } from 'react';
import { ConfirmPrompt } from './confirm.js';
import type { Tone } from './theme.js';
import { useTone } from './theme.js';

export interface FooterProps {
  /** Filter being typed (filter mode), else null. */
  filterDraft: string | null;
  confirm: string | null;
  message: { text: string; tone: Tone } | null;
  keys: string;
}

/** Two lines: a prompt/status line, then the key hints for the current context. */
export function Footer({ filterDraft, confirm, message, keys }: FooterProps): ReactElement {
  const tone = useTone();
  let line: ReactElement;
  if (confirm !== null) line = <ConfirmPrompt question={confirm} />;
  else if (filterDraft !== null)
    line = (
      <Text wrap="truncate" bold>
        /{filterDraft}_ <Text>(enter apply, esc clear)</Text>
      </Text>
    );
  else if (message)
    line = (
      <Text wrap="truncate" {...tone(message.tone)}>
        {message.text}
      </Text>
    );
  else line = <Text> </Text>;
  return (
    <Box flexDirection="column">
      {line}
      <Text wrap="truncate" inverse>
        {keys}
      </Text>
    </Box>
  );
}
