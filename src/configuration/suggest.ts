/**
 * "Did you mean …?" for misspelled option keys and source types. Names are compared
 * case-insensitively because the commonest mistake is a PascalCase key copied from an
 * `appsettings.json` file.
 */

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, () => new Array<number>(cols).fill(0));
  for (let i = 0; i < rows; i++) d[i]![0] = i;
  for (let j = 0; j < cols; j++) d[0]![j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Names longer than this get no suggestion: no option or source type is anywhere near as long, and
 * the edit distance costs time and memory in the product of the lengths.
 */
export const MAX_SUGGESTION_INPUT_LENGTH = 64;

/**
 * The candidate closest to `input`, or undefined when none is close enough to be a plausible typo.
 * A distance up to a third of the input's length is accepted (at least 2), which catches a dropped
 * word such as `certificatePath` for `certificateDiskPath` without suggesting unrelated names.
 * Inputs longer than {@link MAX_SUGGESTION_INPUT_LENGTH} get none.
 */
export function closestMatch(input: string, candidates: Iterable<string>): string | undefined {
  if (input.length > MAX_SUGGESTION_INPUT_LENGTH) return undefined;
  const needle = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(needle, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(2, Math.floor(needle.length / 3));
  return bestDistance <= limit ? best : undefined;
}
