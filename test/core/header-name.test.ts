/**
 * Header names compared without lower-cased copies (src/core/header-name.ts)
 * and variable-style header matching (src/vars/http-variables.ts): each must
 * answer exactly as the lower-casing comparison it replaces.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { isHeader } from "../../src/core/header-name.js";
import { isHeaderOfVariable, variableName } from "../../src/vars/http-variables.js";

const NAMES = [
  "Host",
  "host",
  "HOST",
  "Content-Type",
  "content-type",
  "X-Ünïcode",
  "x-ünïcode",
  "Hos",
  "Hostt",
  "",
  "Ho-st",
  "Ho_st",
  "@Host",
  "[host",
];
const LOWER = ["host", "content-type", "x-ünïcode", "ho-st", "", "`host"];

describe("isHeader", () => {
  test("is name.toLowerCase() === lower for every pair", () => {
    for (const name of NAMES) {
      for (const lower of LOWER)
        assert.equal(isHeader(name, lower), name.toLowerCase() === lower, `${name} / ${lower}`);
    }
  });
});

describe("isHeaderOfVariable", () => {
  test("is variableName(name) === suffix for every pair", () => {
    const suffixes = ["host", "content_type", "ho_st", "x_ünïcode", "", "hos"];
    for (const name of NAMES) {
      for (const suffix of suffixes)
        assert.equal(isHeaderOfVariable(name, suffix), variableName(name) === suffix, `${name} / ${suffix}`);
    }
  });
});
