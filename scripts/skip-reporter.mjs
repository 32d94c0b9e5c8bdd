// A node:test reporter that writes one JSON line per skipped test (file, name, reason) and
// nothing else. run-tests.mjs runs it beside the usual report, so it can list what did not run
// and, under SWITCHYARD_REQUIRE_TOOLS=1, fail the run for it: the summary line `# skipped N`
// alone would have to be parsed out of a stream meant for people.
export default async function* skipReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { skip, name, file } = event.data;
    if (skip === undefined || skip === false) continue;
    yield `${JSON.stringify({ file: file ?? null, name, reason: typeof skip === 'string' ? skip : '' })}\n`;
  }
}
