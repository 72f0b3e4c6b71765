import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnpikeError } from '../errors.js';
import {
  TemplateRenderError,
  TemplateSyntaxError,
  compilePromptTemplate,
  parseTemplate,
  promptTemplateProblems,
  renderTemplate,
  type PromptTemplateSource,
} from './index.js';

function renderError(fn: () => unknown): TemplateRenderError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TemplateRenderError, `expected TemplateRenderError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a TemplateRenderError');
}

describe('parseTemplate', { timeout: 10_000 }, () => {
  test('splits text and placeholders, with or without spaces, listing each name once', () => {
    const p = parseTemplate('Hi {{name}}, meet {{ other }} and {{  name  }}.');
    assert.deepEqual(p.parts, [
      { type: 'text', text: 'Hi ' },
      { type: 'variable', name: 'name' },
      { type: 'text', text: ', meet ' },
      { type: 'variable', name: 'other' },
      { type: 'text', text: ' and ' },
      { type: 'variable', name: 'name' },
      { type: 'text', text: '.' },
    ]);
    assert.deepEqual(p.variables, ['name', 'other']);
  });

  test('text without placeholders is one part; empty text none', () => {
    assert.deepEqual(parseTemplate('just } text }} here {').parts, [{ type: 'text', text: 'just } text }} here {' }]);
    assert.deepEqual(parseTemplate('').parts, []);
  });

  test('\\{{ is a literal {{', () => {
    const p = parseTemplate('json: \\{{"a": {{ x }}}}');
    assert.deepEqual(p.variables, ['x']);
    assert.deepEqual(p.parts, [
      { type: 'text', text: 'json: {{"a": ' },
      { type: 'variable', name: 'x' },
      { type: 'text', text: '}}' },
    ]);
  });

  const bad: Array<[string, string, RegExp, number]> = [
    ['unterminated', 'Hello {{ name', /unterminated/, 6],
    ['unterminated before a later placeholder', 'a {{ b {{ c }}', /unterminated/, 2],
    ['empty', 'x {{ }} y', /empty placeholder/, 2],
    ['starts with a digit', '{{ 1abc }}', /bad placeholder name "1abc"/, 0],
    ['dotted', '{{ user.name }}', /bad placeholder name/, 0],
    ['code-like', '{{ process.exit() }}', /bad placeholder name/, 0],
    ['too long', `{{ ${'a'.repeat(65)} }}`, /bad placeholder name/, 0],
  ];
  for (const [what, text, message, offset] of bad) {
    test(`refuses a placeholder that is ${what}`, () => {
      assert.throws(
        () => parseTemplate(text),
        (e: unknown) => e instanceof TemplateSyntaxError && message.test(e.message) && e.offset === offset,
      );
    });
  }
});

describe('renderTemplate', { timeout: 10_000 }, () => {
  const template: PromptTemplateSource = {
    messages: [
      { role: 'system', content: 'You are a {{ persona }} assistant. Answer in {{lang}}.' },
      { role: 'user', content: '{{ question }}' },
    ],
    variables: [
      { name: 'persona', default: 'helpful' },
      { name: 'lang', required: false },
      { name: 'question', max_length: 40 },
    ],
  };

  test('substitutes values and applies defaults; an optional variable without value is empty', () => {
    const out = renderTemplate(template, { question: 'What is 2+2?' });
    assert.deepEqual(out, [
      { role: 'system', content: 'You are a helpful assistant. Answer in .' },
      { role: 'user', content: 'What is 2+2?' },
    ]);
    assert.equal(renderTemplate(template, { question: 'q', persona: 'terse', lang: 'French' })[0]!.content, 'You are a terse assistant. Answer in French.');
  });

  test('inserts values verbatim: no recursive expansion, no evaluation, no escape processing', () => {
    const sneaky = '{{ persona }} ${process.exit()} \\{{ x }} $& $1 {{';
    const t: PromptTemplateSource = { messages: [{ role: 'user', content: '<{{ q }}>' }], variables: [{ name: 'q' }, { name: 'persona', default: 'P' }] };
    assert.equal(renderTemplate(t, { q: sneaky })[0]!.content, `<${sneaky}>`);
  });

  test('numbers and booleans are inserted as text; other values are refused', () => {
    assert.equal(renderTemplate(template, { question: 42 })[1]!.content, '42');
    assert.equal(renderTemplate(template, { question: false })[1]!.content, 'false');
    const e = renderError(() => renderTemplate(template, { question: { a: 1 } }));
    assert.deepEqual(e.fields, [{ path: '/variables/question', message: 'must be a string, number or boolean' }]);
  });

  test('missing required variables are listed by name', () => {
    const t: PromptTemplateSource = { messages: [{ role: 'user', content: '{{a}} {{b}} {{c}}' }], variables: [{ name: 'a' }, { name: 'b', required: true }, { name: 'c', default: '' }] };
    const e = renderError(() => renderTemplate(t, {}));
    assert.deepEqual(e.missing, ['a', 'b']);
    assert.match(e.message, /missing required variables: a, b/);
    assert.equal(e.code, 'TP_ERR_VALIDATION');
    assert.ok(e instanceof TurnpikeError);
    assert.equal(e.status, 400);
    // null counts as not given.
    assert.deepEqual(renderError(() => renderTemplate(t, { a: null, b: 'x' })).missing, ['a']);
  });

  test('max_length is enforced on given values', () => {
    const e = renderError(() => renderTemplate(template, { question: 'x'.repeat(41) }));
    assert.deepEqual(e.fields, [{ path: '/variables/question', message: 'must be at most 40 characters (got 41)' }]);
    assert.equal(renderTemplate(template, { question: 'x'.repeat(40) })[1]!.content.length, 40);
  });

  test('values for undeclared variables are refused unless allowUnknown', () => {
    const e = renderError(() => renderTemplate(template, { question: 'q', extra: 'x' }));
    assert.deepEqual(e.fields, [{ path: '/variables/extra', message: 'is not a variable of this template' }]);
    assert.equal(renderTemplate(template, { question: 'q', extra: 'x' }, { allowUnknown: true })[1]!.content, 'q');
  });

  test('a prototype-named key is not a value', () => {
    const t: PromptTemplateSource = { messages: [{ role: 'user', content: '{{ constructor }}' }], variables: [{ name: 'constructor' }] };
    assert.deepEqual(renderError(() => renderTemplate(t, {})).missing, ['constructor']);
  });

  test('compiling refuses undeclared placeholders and bad syntax, naming the message', () => {
    assert.throws(() => compilePromptTemplate({ messages: [{ role: 'user', content: 'hi' }, { role: 'user', content: '{{ who }}' }] }), /messages\[1\]: placeholder \{\{ who \}\} is not declared/);
    assert.throws(() => compilePromptTemplate({ messages: [{ role: 'user', content: '{{ who' }], variables: [{ name: 'who' }] }), TemplateSyntaxError);
  });

  test('a compiled template renders many times with independent values', () => {
    const c = compilePromptTemplate(template);
    assert.equal(c.render({ question: 'one' })[1]!.content, 'one');
    assert.equal(c.render({ question: 'two' })[1]!.content, 'two');
    assert.deepEqual([...c.variables.keys()], ['persona', 'lang', 'question']);
  });
});

describe('promptTemplateProblems', { timeout: 10_000 }, () => {
  test('a good template has none', () => {
    assert.deepEqual(promptTemplateProblems({ messages: [{ role: 'user', content: 'Hi {{ a }}' }], variables: [{ name: 'a' }, { name: 'unused' }] }), []);
  });

  test('reports syntax, undeclared placeholders, duplicate variables and long defaults with their paths', () => {
    const problems = promptTemplateProblems({
      messages: [
        { role: 'system', content: 'fine' },
        { role: 'user', content: 'Hi {{ a' },
        { role: 'user', content: '{{ b }} and {{ c }}' },
        { role: 'assistant', content: '{{ 9x }}' },
      ],
      variables: [{ name: 'b' }, { name: 'b' }, { name: 'd', default: 'toolong', max_length: 3 }],
    });
    assert.deepEqual(
      problems.map((p) => p.path),
      ['/variables/1/name', '/variables/2/default', '/messages/1/content', '/messages/2/content', '/messages/3/content'],
    );
    assert.match(problems[2]!.message, /unterminated/);
    assert.match(problems[3]!.message, /\{\{ c \}\} is not declared/);
    assert.match(problems[4]!.message, /bad placeholder name "9x"/);
  });
});
