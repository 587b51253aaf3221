/** Panel order is the number key that selects it (1-7). */
export const PANELS = [
  { id: 'agents', title: 'Agents' },
  { id: 'claims', title: 'Claims' },
  { id: 'latency', title: 'Latency' },
  { id: 'entropy', title: 'Entropy' },
  { id: 'traces', title: 'Traces' },
  { id: 'health', title: 'Health' },
  { id: 'files', title: 'Files' },
] as const;

export type PanelId = (typeof PANELS)[number]['id'];
