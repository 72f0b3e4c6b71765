// node:test reporter behind the one closing line CI reads: `N passed, N failed[, N skipped]`.
// Counts leaf tests only (suites are containers); a test file that crashes outside any test counts as a failure.
// With TP_TEST_SUMMARY_FILE set (scripts/test.mjs), the counts go to that file, rewritten synchronously after
// every result, and the caller prints the line: the runner's --test-force-exit ends the process as soon as the
// last test is done, before a reporter's own closing output would be written.
import { writeFileSync } from 'node:fs';

export default async function* summary(source) {
  const file = process.env.TP_TEST_SUMMARY_FILE;
  const s = { passed: 0, failed: 0, skipped: 0, failures: [] };
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    if (!count(s, event)) continue;
    if (file) writeFileSync(file, JSON.stringify(s));
  }
  if (file) return;
  yield summaryText(s);
}

/** Adds one result to `s`; false when it does not count (a suite that only holds failed tests, etc.). */
function count(s, event) {
  const d = event.data;
  if (d.details?.type === 'suite') {
    // A suite that failed by itself (hook error, file crash) with no failing child still counts once.
    if (event.type === 'test:fail' && d.details?.error?.failureType !== 'subtestsFailed') {
      s.failed++;
      s.failures.push(d.name);
      return true;
    }
    return false;
  }
  if (d.skip || d.todo) s.skipped++;
  else if (event.type === 'test:pass') s.passed++;
  else if (d.details?.error?.failureType === 'subtestsFailed') return false;
  else {
    s.failed++;
    s.failures.push(`${d.file ? d.file.replace(process.cwd() + '/', '') + ': ' : ''}${d.name}`);
  }
  return true;
}

/** The failures, if any, then the closing line. */
export function summaryText(s) {
  const failed = s.failures.length ? `\nFailed:\n${s.failures.map((f) => `  - ${f}`).join('\n')}\n` : '';
  return `${failed}\n${s.passed} passed, ${s.failed} failed${s.skipped ? `, ${s.skipped} skipped` : ''}\n`;
}
