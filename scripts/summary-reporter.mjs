// node:test reporter that prints the one closing line CI reads: `N passed, N failed[, N skipped]`.
// Counts leaf tests only (suites are containers); a test file that crashes outside any test counts as a failure.
export default async function* summary(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = [];
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const d = event.data;
    if (d.details?.type === 'suite') {
      // A suite that failed by itself (hook error, file crash) with no failing child still counts once.
      if (event.type === 'test:fail' && d.details?.error?.failureType !== 'subtestsFailed') {
        failed++;
        failures.push(d.name);
      }
      continue;
    }
    if (d.skip || d.todo) skipped++;
    else if (event.type === 'test:pass') passed++;
    else if (d.details?.error?.failureType === 'subtestsFailed') continue;
    else {
      failed++;
      failures.push(`${d.file ? d.file.replace(process.cwd() + '/', '') + ': ' : ''}${d.name}`);
    }
  }
  if (failures.length) yield `\nFailed:\n${failures.map((f) => `  - ${f}`).join('\n')}\n`;
  yield `\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`;
}
