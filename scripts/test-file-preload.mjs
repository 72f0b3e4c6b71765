// Preloaded (NODE_OPTIONS --import) into the node processes of a test run by scripts/test.mjs; it acts only in
// a test file's own process (the runner's child, running the *.test.js file), where it makes stdout blocking.
// Why: under --test-force-exit that process reports its verdicts to the runner through a non-blocking pipe and
// then exits at once, and the last verdicts still in the pipe's buffer were lost — the suite printed fewer
// tests than had run, with no failure (4 of a router file's tests in a fresh-clone run; 3 to 18 of 1,800 in a
// 30-file repro). nodejs/node#64833, open; the same fix is proposed there (#64875).
if (process.env.NODE_TEST_CONTEXT === 'child-v8' && /\.test\.js$/.test(process.argv[1] ?? '')) {
  process.stdout._handle?.setBlocking?.(true);
}
