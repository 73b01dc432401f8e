/**
 * What each section of the benchmark measured, and how it is printed: a fixed-width table for the
 * terminal and a Markdown one for RESULTS.md, followed by the targets met or missed and the
 * invariants that must hold (a broken invariant fails the run; a missed target does not).
 */

/** A table: the first column is left-aligned, the others right-aligned. */
export interface Table {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** A performance target: reported, never asserted. */
export interface TargetCheck {
  readonly target: string;
  readonly met: boolean;
  readonly measured: string;
}

/** A property that must hold whatever the machine's speed; a broken one fails the run. */
export interface InvariantCheck {
  readonly invariant: string;
  readonly held: boolean;
  readonly detail: string;
}

/** One numbered section of the benchmark. */
export interface SectionResult {
  readonly id: number;
  readonly title: string;
  /** How it was measured (rounds, sizes), one line. */
  readonly method: string;
  readonly table: Table;
  readonly targets: readonly TargetCheck[];
  readonly invariants: readonly InvariantCheck[];
  readonly notes?: readonly string[];
}

const numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** An integer with thousands separators. */
export function formatCount(value: number): string {
  return numberFormat.format(Math.round(value));
}

/** A duration given in ms, shown in µs with a precision that suits its size. */
export function formatMicros(ms: number): string {
  const us = ms * 1000;
  return us < 10 ? us.toFixed(2) : us < 100 ? us.toFixed(1) : formatCount(us);
}

/** A duration in ms with a precision that suits its size. */
export function formatMillis(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : formatCount(ms);
}

/** A ratio such as `123×` or `0.87×`. */
export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return "n/a";
  return `${ratio >= 10 ? formatCount(ratio) : ratio.toFixed(2)}×`;
}

/** Bytes as `1,234 B` or `12.3 KB`. */
export function formatBytes(bytes: number): string {
  return Math.abs(bytes) < 10_000 ? `${formatCount(bytes)} B` : `${(bytes / 1024).toFixed(1)} KB`;
}

function widths(table: Table): number[] {
  const all = [table.header, ...table.rows];
  return table.header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? "").length)));
}

/** The table in fixed-width columns, indented by two spaces. */
export function renderTextTable(table: Table): string {
  const w = widths(table);
  const line = (row: readonly string[]): string =>
    "  " +
    row
      .map((cell, column) => (column === 0 ? cell.padEnd(w[column] ?? 0) : cell.padStart(w[column] ?? 0)))
      .join("  ")
      .trimEnd();
  const rule = "  " + w.map((n) => "-".repeat(n)).join("  ");
  return [line(table.header), rule, ...table.rows.map(line)].join("\n");
}

/** The table in Markdown. */
export function renderMarkdownTable(table: Table): string {
  const escape = (cell: string): string => cell.replaceAll("|", "\\|");
  const line = (row: readonly string[]): string => `| ${row.map(escape).join(" | ")} |`;
  const rule = `| ${table.header.map((_, column) => (column === 0 ? "---" : "---:")).join(" | ")} |`;
  return [line(table.header), rule, ...table.rows.map(line)].join("\n");
}

/** Every target of every section. */
export function allTargets(sections: readonly SectionResult[]): TargetCheck[] {
  return sections.flatMap((s) => s.targets);
}

/** Every invariant of every section. */
export function allInvariants(sections: readonly SectionResult[]): InvariantCheck[] {
  return sections.flatMap((s) => s.invariants);
}

/** One section for the terminal. */
export function renderTextSection(section: SectionResult): string {
  const parts = [`${section.id}. ${section.title}`, `   ${section.method}`, "", renderTextTable(section.table)];
  for (const note of section.notes ?? []) parts.push(`   note: ${note}`);
  return parts.join("\n");
}

/** The targets and invariants for the terminal. */
export function renderTextSummary(sections: readonly SectionResult[]): string {
  const lines = ["Targets (reported, not asserted)"];
  for (const t of allTargets(sections)) lines.push(`  ${t.met ? "[met]   " : "[MISSED]"} ${t.target}: ${t.measured}`);
  lines.push("", "Invariants (a broken one fails the run)");
  for (const i of allInvariants(sections)) lines.push(`  ${i.held ? "[ok]    " : "[BROKEN]"} ${i.invariant}: ${i.detail}`);
  return lines.join("\n");
}

/** Every section, the targets and the invariants in Markdown. */
export function renderMarkdown(sections: readonly SectionResult[]): string {
  const parts: string[] = [];
  for (const section of sections) {
    parts.push(`### ${section.id}. ${section.title}`, "", `${section.method}`, "", renderMarkdownTable(section.table), "");
    for (const note of section.notes ?? []) parts.push(`- ${note}`);
    if ((section.notes ?? []).length > 0) parts.push("");
  }
  parts.push("### Targets", "");
  for (const t of allTargets(sections)) parts.push(`- ${t.met ? "**met**" : "**missed**"}: ${t.target} (${t.measured})`);
  parts.push("", "### Invariants", "");
  for (const i of allInvariants(sections)) parts.push(`- ${i.held ? "ok" : "**broken**"}: ${i.invariant} (${i.detail})`);
  return parts.join("\n");
}
