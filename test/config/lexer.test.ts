import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { tokenize, type Token } from "../../src/config/lexer.js";
import { ConfigError } from "../../src/core/errors.js";

const FILE = "/etc/wsgate/test.conf";

function lex(text: string): Token[] {
  return [...tokenize({ name: FILE, text }).tokens];
}

/** Words as strings, punctuation as itself: a compact view of a token list. */
function shape(text: string): string[] {
  return lex(text).map((token) => (token.kind === "word" ? token.value : token.kind));
}

/** The error that stopped reading; tokenize() returns it beside the tokens read before it. */
function lexError(text: string, isParameter = false): ConfigError {
  const { error } = tokenize({ name: isParameter ? "command line" : FILE, text, isParameter });
  assert.ok(error instanceof ConfigError, `expected a ConfigError for ${JSON.stringify(text)}, got ${String(error)}`);
  return error;
}

describe("lexer: words and punctuation", () => {
  test("splits words at white space, ';' and '{'", () => {
    assert.deepEqual(shape("listen   127.0.0.1:80\tdefault_server;\nhttp{server {}}"), [
      "listen",
      "127.0.0.1:80",
      "default_server",
      ";",
      "http",
      "{",
      "server",
      "{",
      "}",
      "}",
    ]);
  });

  test("a word directly followed by ';' ends there", () => {
    assert.deepEqual(shape("daemon off;worker_processes 2;"), ["daemon", "off", ";", "worker_processes", "2", ";"]);
  });

  test("'}' does not end a word", () => {
    assert.deepEqual(shape("a b}c;"), ["a", "b}c", ";"]);
  });

  test("${var} keeps its braces inside a word", () => {
    assert.deepEqual(shape("set $a ${host}x;"), ["set", "$a", "${host}x", ";"]);
    assert.deepEqual(shape("add_header X pre${http_x}post;"), ["add_header", "X", "pre${http_x}post", ";"]);
  });

  test("'{' after a word that does not end in '$' opens a block", () => {
    assert.deepEqual(shape("location /a{ }"), ["location", "/a", "{", "}"]);
  });

  test("punctuation tokens carry no value and are not quoted", () => {
    const [, semicolon] = lex("a;");
    assert.deepEqual(semicolon, { kind: ";", value: "", quoted: false, line: 1 });
  });
});

describe("lexer: comments", () => {
  test("'#' at the start of a token comments out the rest of the line", () => {
    assert.deepEqual(shape("# a comment; {\ndaemon off; # trailing ; {\n#\nuser x;"), [
      "daemon",
      "off",
      ";",
      "user",
      "x",
      ";",
    ]);
  });

  test("'#' inside a word is part of the word", () => {
    assert.deepEqual(shape("a#b c#;"), ["a#b", "c#", ";"]);
  });

  test("a comment between a word and its ';' is skipped", () => {
    assert.deepEqual(shape("daemon off #comment\n;"), ["daemon", "off", ";"]);
  });

  test("'#' inside quotes is text", () => {
    assert.deepEqual(shape(`a "#not a comment";`), ["a", "#not a comment", ";"]);
  });
});

describe("lexer: quotes and escapes", () => {
  test("double and single quotes make one word with spaces and punctuation", () => {
    const tokens = lex(`log_format main "a b; {c}" 'd e';`);
    assert.deepEqual(
      tokens.map((token) => [token.value, token.quoted]),
      [
        ["log_format", false],
        ["main", false],
        ["a b; {c}", true],
        ["d e", true],
        ["", false],
      ],
    );
  });

  test("an empty quoted string is an empty word", () => {
    assert.deepEqual(shape(`'' close;`), ["", "close", ";"]);
    assert.equal(lex(`"" x;`)[0]!.quoted, true);
  });

  test(`\\" \\' and \\\\ lose the backslash`, () => {
    assert.deepEqual(shape(String.raw`a "x\"y" 'p\'q' "b\\s";`), ["a", `x"y`, "p'q", "b\\s", ";"]);
  });

  test("\\t \\n \\r become control characters", () => {
    assert.deepEqual(shape(String.raw`a "1\t2\n3\r4";`), ["a", "1\t2\n3\r4", ";"]);
  });

  test("any other \\x keeps both characters", () => {
    assert.deepEqual(shape(String.raw`map "~^\d+\.x$" '\w\$';`), ["map", String.raw`~^\d+\.x$`, String.raw`\w\$`, ";"]);
  });

  test("escapes apply to unquoted words as well; an escaped space joins a word and stays escaped", () => {
    assert.deepEqual(shape(String.raw`a x\"y b\ c \d;`), ["a", `x"y`, String.raw`b\ c`, String.raw`\d`, ";"]);
  });

  test("an escaped quote does not close the string", () => {
    assert.deepEqual(shape(String.raw`a "one\" two";`), ["a", `one" two`, ";"]);
  });

  test("a closing quote may be followed by white space, ';', '{' or ')'", () => {
    assert.deepEqual(shape(`a "x";b 'y'{}c "z"\td;`), ["a", "x", ";", "b", "y", "{", "}", "c", "z", "d", ";"]);
    // As nginx: ")" after a closing quote starts the next word (`if ($a = "x")`).
    assert.deepEqual(shape(`if ($a = "x") {}`), ["if", "($a", "=", "x", ")", "{", "}"]);
    assert.deepEqual(shape(`a "x")y;`), ["a", "x", ")y", ";"]);
  });

  test(`anything else after a closing quote is 'unexpected "X"'`, () => {
    const err = lexError(`daemon\n"off"x;`);
    assert.equal(err.detail, `unexpected "x"`);
    assert.equal(err.message, `unexpected "x" in ${FILE}:2`);
    assert.equal(lexError(`a 'b'"c";`).detail, `unexpected """`);
    assert.equal(lexError(`a "b"};`).detail, `unexpected "}"`);
  });
});

describe("lexer: line numbers", () => {
  test("a token records the line it ends on", () => {
    const tokens = lex("events {\n}\n\nhttp {\n  a\n  b;\n}\n");
    assert.deepEqual(
      tokens.map((token) => [token.kind === "word" ? token.value : token.kind, token.line]),
      [
        ["events", 1],
        ["{", 1],
        ["}", 2],
        ["http", 4],
        ["{", 4],
        ["a", 5],
        ["b", 6],
        [";", 6],
        ["}", 7],
      ],
    );
  });

  test("newlines inside quotes and escaped newlines count", () => {
    const tokens = lex(`a "1\n2\n3" b\\\nc;`);
    assert.deepEqual(
      tokens.map((token) => token.line),
      [1, 3, 4, 4],
    );
    assert.equal(tokens[1]!.value, "1\n2\n3");
  });

  test("comments do not hide the newline that ends them", () => {
    assert.deepEqual(
      lex("# one\n# two\nx;").map((token) => token.line),
      [3, 3],
    );
  });

  test("endLine is the line nginx is on at the end of the text", () => {
    assert.equal(tokenize({ name: FILE, text: "a;\nb;\n" }).endLine, 3);
    assert.equal(tokenize({ name: FILE, text: "a;" }).endLine, 1);
  });
});

describe("lexer: structural errors", () => {
  test(`';' or '{' with no word before it is unexpected`, () => {
    const semicolon = lexError("a;\n;");
    assert.equal(semicolon.message, `unexpected ";" in ${FILE}:2`);
    assert.equal(semicolon.kind, "syntax");
    assert.equal(lexError("\n\n{").message, `unexpected "{" in ${FILE}:3`);
  });

  test(`'}' in the middle of a statement is unexpected`, () => {
    assert.equal(lexError("http {\n listen 80\n}").message, `unexpected "}" in ${FILE}:3`);
  });

  test("a statement left open at the end of the file", () => {
    const err = lexError("events {}\nhttp { listen 80\n");
    assert.equal(err.message, `unexpected end of file, expecting ";" or "}" in ${FILE}:3`);
  });

  test("a quote left open at the end of the file is a statement left open", () => {
    assert.equal(lexError(`a "b;\n`).message, `unexpected end of file, expecting ";" or "}" in ${FILE}:2`);
  });

  test("in a -g parameter: nginx's wording for the end and for blocks", () => {
    assert.equal(lexError("daemon off", true).message, `unexpected end of parameter, expecting ";" in command line`);
    assert.equal(
      lexError("http { foo", true).message,
      "block directives are not supported in -g option in command line",
    );
    assert.equal(lexError("{", true).message, `unexpected "{" in command line`);
  });
});
