import { Text } from 'ink';
import type { ReactElement } from 'react';

export interface TitleProps {
  title: string;
  shown?: number;
  total?: number;
  sort?: string;
  desc?: boolean;
  filter?: string;
  extra?: string;
}

/** A panel's first line: name, row counts, the active sort and filter. */
export function PanelTitle({ title, shown, total, sort, desc, filter, extra }: TitleProps): ReactElement {
  const counts = total === undefined ? '' : shown === total ? ` (${total})` : ` (${shown}/${total})`;
  return (
    <Text wrap="truncate">
      <Text bold>{title}</Text>
      {counts}
      {sort ? `  sort: ${sort}${desc ? ' (reversed)' : ''}` : ''}
      {filter ? <Text bold>{`  filter: ${filter}`}</Text> : ''}
      {extra ? `  ${extra}` : ''}
    </Text>
  );
}
