/** What every list panel gets from the app besides its rows. */
export interface ListView {
  selected: number;
  width: number;
  /** Lines available to the panel, title included. */
  height: number;
  sort: string;
  desc: boolean;
  filter: string;
  /** Rows before filtering. */
  total: number;
  /** The clock of this frame (ages are drawn from it). */
  now: number;
  /** Shown instead of the panel's own "nothing here" text, e.g. before the first snapshot. */
  empty?: string;
}
