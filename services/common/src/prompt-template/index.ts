// Prompt templates: `{{ name }}` placeholders in message text, parsed once (at write time by the control
// plane, at config-compile time by the AI gateway) and rendered by plain substitution. Rendering never
// evaluates anything: a value is inserted verbatim, and `{{` inside a value stays literal text.
//
// Syntax: `{{ name }}` (spaces optional) where name is `[A-Za-z_][A-Za-z0-9_]*`, up to 64 characters.
// `\{{` writes a literal `{{`. Anything else between `{{` and `}}`, or a `{{` without a closing `}}`, is
// a syntax error.
import { TurnpikeError, type FieldError } from '../errors.js';

export const VARIABLE_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]{0,63}$';
const VARIABLE_NAME = new RegExp(VARIABLE_NAME_PATTERN);

export type TemplatePart = { type: 'text'; text: string } | { type: 'variable'; name: string };

export interface ParsedTemplate {
  parts: readonly TemplatePart[];
  /** Placeholder names in order of first use, each once. */
  variables: readonly string[];
}

/** A syntax error at `offset` (0-based index into the text). */
export class TemplateSyntaxError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} (at character ${offset + 1})`);
    this.name = 'TemplateSyntaxError';
    this.offset = offset;
  }
}

/** Splits `text` into literal parts and placeholders; throws TemplateSyntaxError. */
export function parseTemplate(text: string): ParsedTemplate {
  const parts: TemplatePart[] = [];
  const variables: string[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) {
      literal += text.slice(i);
      break;
    }
    if (open > 0 && text[open - 1] === '\\') {
      // `\{{`: the backslash is dropped and the braces kept as text.
      literal += text.slice(i, open - 1) + '{{';
      i = open + 2;
      continue;
    }
    literal += text.slice(i, open);
    const close = text.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateSyntaxError('unterminated placeholder: "{{" without a closing "}}"', open);
    const inner = text.slice(open + 2, close);
    const name = inner.trim();
    if (name === '') throw new TemplateSyntaxError('empty placeholder "{{}}"', open);
    if (inner.includes('{{')) throw new TemplateSyntaxError('unterminated placeholder: "{{" without a closing "}}"', open);
    if (!VARIABLE_NAME.test(name)) {
      throw new TemplateSyntaxError(
        `bad placeholder name ${JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name)}: use letters, digits and _ (not starting with a digit), up to 64 characters`,
        open,
      );
    }
    if (literal) parts.push({ type: 'text', text: literal });
    literal = '';
    parts.push({ type: 'variable', name });
    if (!variables.includes(name)) variables.push(name);
    i = close + 2;
  }
  if (literal) parts.push({ type: 'text', text: literal });
  return { parts, variables };
}

export interface TemplateVariable {
  name: string;
  description?: string | undefined;
  /** Default true; a variable with a default is never missing. */
  required?: boolean | undefined;
  default?: string | undefined;
  max_length?: number | undefined;
}

export interface TemplateMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface PromptTemplateSource {
  messages: readonly TemplateMessage[];
  variables?: readonly TemplateVariable[] | undefined;
}

/** A value given for a variable: strings are inserted as they are; numbers and booleans as their text. */
export type TemplateValue = string | number | boolean;

export interface RenderOptions {
  /** Accept values for variables the template does not declare (ignored) instead of failing. Default false. */
  allowUnknown?: boolean;
}

/**
 * A render failure: the caller's values do not fit the template. `fields` name each variable
 * (`/variables/<name>`), so the gateway can answer 400 with them.
 */
export class TemplateRenderError extends TurnpikeError {
  readonly missing: readonly string[];
  constructor(message: string, fields: FieldError[], missing: readonly string[]) {
    super('TP_ERR_VALIDATION', message, fields);
    this.name = 'TemplateRenderError';
    this.missing = missing;
  }
}

export interface CompiledPromptTemplate {
  /** Declared variables by name. */
  readonly variables: ReadonlyMap<string, TemplateVariable>;
  render(values: Readonly<Record<string, unknown>>, opts?: RenderOptions): TemplateMessage[];
}

/**
 * Parses every message once, checks each placeholder is declared, and returns a renderer. Throws
 * TemplateSyntaxError (with the message index in its text) for a bad template.
 */
export function compilePromptTemplate(template: PromptTemplateSource): CompiledPromptTemplate {
  const declared = new Map<string, TemplateVariable>();
  for (const v of template.variables ?? []) {
    if (declared.has(v.name)) throw new Error(`variable ${JSON.stringify(v.name)} is declared twice`);
    declared.set(v.name, v);
  }
  const parsed = template.messages.map((m, idx) => {
    let p: ParsedTemplate;
    try {
      p = parseTemplate(m.content);
    } catch (e) {
      if (e instanceof TemplateSyntaxError) throw new TemplateSyntaxError(`messages[${idx}]: ${e.message.replace(/ \(at character \d+\)$/, '')}`, e.offset);
      throw e;
    }
    for (const name of p.variables) {
      if (!declared.has(name)) throw new TemplateSyntaxError(`messages[${idx}]: placeholder {{ ${name} }} is not declared in variables`, m.content.indexOf(name));
    }
    return { role: m.role, parts: p.parts };
  });
  return {
    variables: declared,
    render(values, opts = {}) {
      const resolved = resolveValues(declared, values, opts);
      return parsed.map((m) => ({ role: m.role, content: m.parts.map((part) => (part.type === 'text' ? part.text : resolved.get(part.name)!)).join('') }));
    },
  };
}

function resolveValues(declared: ReadonlyMap<string, TemplateVariable>, values: Readonly<Record<string, unknown>>, opts: RenderOptions): Map<string, string> {
  const fields: FieldError[] = [];
  const missing: string[] = [];
  const out = new Map<string, string>();
  for (const [name, v] of declared) {
    const given = Object.prototype.hasOwnProperty.call(values, name) ? values[name] : undefined;
    let text: string;
    if (given === undefined || given === null) {
      if (v.default !== undefined) text = v.default;
      else if (v.required === false) text = '';
      else {
        missing.push(name);
        continue;
      }
    } else if (typeof given === 'string') text = given;
    else if (typeof given === 'number' || typeof given === 'boolean') text = String(given);
    else {
      fields.push({ path: `/variables/${name}`, message: 'must be a string, number or boolean' });
      continue;
    }
    if (v.max_length !== undefined && text.length > v.max_length) {
      fields.push({ path: `/variables/${name}`, message: `must be at most ${v.max_length} characters (got ${text.length})` });
      continue;
    }
    out.set(name, text);
  }
  if (!opts.allowUnknown) {
    for (const name of Object.keys(values)) {
      if (!declared.has(name)) fields.push({ path: `/variables/${name}`, message: 'is not a variable of this template' });
    }
  }
  const all = [...missing.map((name) => ({ path: `/variables/${name}`, message: 'is required' })), ...fields];
  if (all.length > 0) {
    const head = missing.length > 0 ? `missing required variables: ${missing.join(', ')}` : `${all[0]!.path.slice('/variables/'.length)} ${all[0]!.message}`;
    const more = all.length - (missing.length > 0 ? missing.length : 1);
    throw new TemplateRenderError(more > 0 ? `${head} (and ${more} more problem${more > 1 ? 's' : ''})` : head, all, missing);
  }
  return out;
}

/** Renders the template's messages with `values` (compile + render; compile once instead on a hot path). */
export function renderTemplate(template: PromptTemplateSource, values: Readonly<Record<string, unknown>>, opts?: RenderOptions): TemplateMessage[] {
  return compilePromptTemplate(template).render(values, opts);
}

/**
 * Write-time problems of a template as 422 field errors: placeholder syntax and undeclared placeholders at
 * `/messages/N/content`, duplicate variable names at `/variables/N/name`, defaults longer than `max_length`.
 */
export function promptTemplateProblems(template: PromptTemplateSource): FieldError[] {
  const out: FieldError[] = [];
  const declared = new Set<string>();
  (template.variables ?? []).forEach((v, i) => {
    if (declared.has(v.name)) out.push({ path: `/variables/${i}/name`, message: `${JSON.stringify(v.name)} is declared twice` });
    declared.add(v.name);
    if (v.default !== undefined && v.max_length !== undefined && v.default.length > v.max_length) {
      out.push({ path: `/variables/${i}/default`, message: `is longer than max_length (${v.max_length})` });
    }
  });
  template.messages.forEach((m, i) => {
    const path = `/messages/${i}/content`;
    try {
      for (const name of parseTemplate(m.content).variables) {
        if (!declared.has(name)) out.push({ path, message: `placeholder {{ ${name} }} is not declared in variables` });
      }
    } catch (e) {
      if (!(e instanceof TemplateSyntaxError)) throw e;
      out.push({ path, message: e.message });
    }
  });
  return out;
}
