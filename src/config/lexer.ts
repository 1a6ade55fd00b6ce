/**
 * nginx's configuration lexer, after ngx_conf_read_token(): the same token
 * boundaries, escapes and error messages, so that a file nginx accepts is
 * read into the same words here, and a file it refuses fails with its text.
 *
 * Rules worth knowing (they surprise people):
 * - `#` starts a comment only at the start of a token; `a#b` is one word.
 * - an unquoted word ends at white space, `;` or `{` — not at `}`;
 *   `${var}` keeps its braces because `{` right after `$` does not end a word.
 * - `\` makes the next character ordinary; afterwards `\"`, `\'`, `\\` lose
 *   the backslash and `\t`, `\r`, `\n` become control characters; any other
 *   `\x` stays as the two characters (map and regexes rely on that).
 * - after a closing quote only white space, `;`, `{` or `)` may follow.
 */

import { ConfigError } from "../core/errors.js";

export type TokenKind = "word" | ";" | "{" | "}";

export interface Token {
  readonly kind: TokenKind;
  /** The word's value after quotes and escapes are resolved ("" for punctuation). */
  readonly value: string;
  /** True when the word was written in quotes (nginx forgets this; `map` and `-T` do not need it). */
  readonly quoted: boolean;
  /** Line the token ends on, as nginx reports it. */
  readonly line: number;
}

/** Where the text came from: a file, or a `-g` parameter string (whose errors read differently). */
export interface LexSource {
  readonly name: string;
  readonly text: string;
  readonly isParameter?: boolean;
}

const SPACE = new Set([" ", "\t", "\r", "\n"]);

export interface Lexed {
  readonly tokens: readonly Token[];
  /** The line nginx is on when it reaches the end of the text. */
  readonly endLine: number;
  /** The lexical error that stopped reading, after `tokens`. */
  readonly error?: ConfigError;
}

/**
 * The tokens of `source`. A lexical error does not throw here: the tokens read
 * before it are returned with the error, so that directives before the error
 * are still checked first, as nginx, which reads and handles in one pass.
 */
export function tokenize(source: LexSource): Lexed {
  const lexer = new Lexer(source);
  try {
    return { tokens: lexer.run(), endLine: lexer.endLine };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { tokens: lexer.tokensSoFar, endLine: lexer.endLine, error: err };
  }
}

class Lexer {
  private readonly tokens: Token[] = [];
  private line = 1;
  /** Words collected since the last `;`, `{` or `}` (nginx's cf->args). */
  private argsInStatement = 0;

  constructor(private readonly source: LexSource) {}

  get tokensSoFar(): readonly Token[] {
    return this.tokens;
  }

  get endLine(): number {
    return this.line;
  }

  run(): Token[] {
    const text = this.source.text;
    let i = 0;
    while (i < text.length) {
      const ch = text[i]!;
      if (ch === "\n") {
        this.line++;
        i++;
      } else if (SPACE.has(ch)) {
        i++;
      } else if (ch === "#") {
        i = this.skipComment(i);
      } else if (ch === ";" || ch === "{") {
        if (this.argsInStatement === 0) throw this.error(`unexpected "${ch}"`);
        // nginx refuses a block in -g as soon as it reads the "{".
        if (ch === "{" && this.source.isParameter) throw this.error("block directives are not supported in -g option");
        this.punct(ch);
        i++;
      } else if (ch === "}") {
        if (this.argsInStatement !== 0) throw this.error(`unexpected "}"`);
        this.punct("}");
        i++;
      } else if (ch === '"' || ch === "'") {
        i = this.readQuoted(i);
      } else {
        i = this.readWord(i);
      }
    }
    if (this.argsInStatement > 0) {
      throw this.error(
        this.source.isParameter
          ? `unexpected end of parameter, expecting ";"`
          : `unexpected end of file, expecting ";" or "}"`,
      );
    }
    return this.tokens;
  }

  private skipComment(start: number): number {
    const end = this.source.text.indexOf("\n", start);
    return end === -1 ? this.source.text.length : end;
  }

  private punct(kind: ";" | "{" | "}"): void {
    this.tokens.push({ kind, value: "", quoted: false, line: this.line });
    this.argsInStatement = 0;
  }

  private readWord(start: number): number {
    const text = this.source.text;
    let i = start;
    let afterDollar = false;
    while (i < text.length) {
      const ch = text[i]!;
      if (ch === "\\") {
        if (text[i + 1] === "\n") this.line++;
        i += 2;
        afterDollar = false;
        continue;
      }
      if (ch === "{" && afterDollar) {
        i++;
        afterDollar = false;
        continue;
      }
      if (SPACE.has(ch) || ch === ";" || ch === "{") break;
      afterDollar = ch === "$";
      i++;
    }
    this.word(unescape(text.slice(start, Math.min(i, text.length))), false);
    return i;
  }

  private readQuoted(start: number): number {
    const text = this.source.text;
    const quote = text[start]!;
    let i = start + 1;
    while (i < text.length && text[i] !== quote) {
      if (text[i] === "\n") this.line++;
      if (text[i] === "\\") {
        if (text[i + 1] === "\n") this.line++;
        i++;
      }
      i++;
    }
    if (i >= text.length) {
      // nginx reports a quote left open as a statement left open.
      this.argsInStatement++;
      return text.length;
    }
    this.word(unescape(text.slice(start + 1, i)), true);
    i++; // the closing quote
    const next = text[i];
    if (next === undefined || SPACE.has(next) || next === ";" || next === "{") return i;
    // nginx lets ")" follow (for `if ($a = "x")`) and reads it as the start of the next word.
    if (next === ")") return i;
    throw this.error(`unexpected "${next}"`);
  }

  private word(value: string, quoted: boolean): void {
    this.tokens.push({ kind: "word", value, quoted, line: this.line });
    this.argsInStatement++;
  }

  private error(message: string): ConfigError {
    return new ConfigError("syntax", message, { file: this.source.name, line: this.line });
  }
}

/** The copy loop of ngx_conf_read_token(): resolve the escapes nginx resolves. */
function unescape(raw: string): string {
  if (!raw.includes("\\")) return raw;
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === "\\" && i + 1 < raw.length) {
      const next = raw[i + 1]!;
      if (next === '"' || next === "'" || next === "\\") {
        out += next;
        i++;
        continue;
      }
      const control = next === "t" ? "\t" : next === "r" ? "\r" : next === "n" ? "\n" : "";
      if (control) {
        out += control;
        i++;
        continue;
      }
    }
    out += ch;
  }
  return out;
}
