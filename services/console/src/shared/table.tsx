// A data table: one header row of column labels, one row per item, each cell rendered by its column.
// Pages differ in their cells, not in the table's markup (scoped headers, captions, row hooks for tests).
import type { ComponentChildren } from 'preact';

export interface Column<T> {
  label: string;
  /** The label for screen readers only (an actions column). */
  hiddenLabel?: boolean;
  cell: (row: T) => ComponentChildren;
  class?: string | ((row: T) => string);
}

export interface DataTableProps<T> {
  columns: Array<Column<T>>;
  /** null: not loaded yet, nothing is shown when `empty` is given. */
  rows: readonly T[] | null | undefined;
  /** When given, shown instead of the table when there are no rows. */
  empty?: string;
  caption?: string;
  captionHidden?: boolean;
  class?: string;
  rowKey?: (row: T) => string;
  /** Attributes of a row's <tr> (`data-*` hooks). */
  rowAttrs?: (row: T) => Record<string, string>;
}

export function DataTable<T>(props: DataTableProps<T>) {
  const rows = props.rows ?? [];
  if (props.empty !== undefined) {
    if (!props.rows) return null;
    if (rows.length === 0) return <p class="muted">{props.empty}</p>;
  }
  return (
    <table class={props.class}>
      {props.caption ? <caption class={props.captionHidden ? 'visually-hidden' : undefined}>{props.caption}</caption> : null}
      <thead>
        <tr>
          {props.columns.map((c) => (
            <th scope="col">{c.hiddenLabel ? <span class="visually-hidden">{c.label}</span> : c.label}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={props.rowKey?.(r)} {...props.rowAttrs?.(r)}>
            {props.columns.map((c) => (
              <td class={typeof c.class === 'function' ? c.class(r) : c.class}>{c.cell(r)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
