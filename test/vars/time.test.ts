/**
 * nginx's time formats: $time_local, $time_iso8601, $msec, the error log's
 * timestamp and the Date header, in the process's time zone where nginx uses
 * local time.
 */

import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { formatErrorLogTime, formatHttpDate, formatIso8601, formatLocalTime, formatMsec } from "../../src/vars/time.js";

const savedTz = process.env["TZ"];

/** Run with the process in time zone `tz` (Node re-reads TZ when it is assigned). */
function inZone<T>(tz: string, fn: () => T): T {
  process.env["TZ"] = tz;
  try {
    return fn();
  } finally {
    if (savedTz === undefined) delete process.env["TZ"];
    else process.env["TZ"] = savedTz;
  }
}

describe("time formats", () => {
  test("the Date header is in GMT whatever the zone", () => {
    inZone("Asia/Kolkata", () => {
      assert.equal(formatHttpDate(Date.UTC(2026, 10, 25, 10, 0, 0, 999)), "Wed, 25 Nov 2026 10:00:00 GMT");
      assert.equal(formatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
      assert.equal(formatHttpDate(Date.UTC(2024, 1, 29, 23, 59, 59)), "Thu, 29 Feb 2024 23:59:59 GMT");
    });
  });

  test("$msec: seconds with three decimals", () => {
    assert.equal(formatMsec(1764064800123), "1764064800.123");
    assert.equal(formatMsec(1764064800000), "1764064800.000");
    assert.equal(formatMsec(5), "0.005");
  });

  test("UTC: $time_local, $time_iso8601 and the error log's time", () => {
    inZone("UTC", () => {
      const ms = Date.UTC(2026, 10, 5, 6, 7, 8, 500);
      assert.equal(formatLocalTime(ms), "05/Nov/2026:06:07:08 +0000");
      assert.equal(formatIso8601(ms), "2026-11-05T06:07:08+00:00");
      assert.equal(formatErrorLogTime(ms), "2026/11/05 06:07:08");
    });
  });

  test("a zone east of UTC with half hours: +0530 and +05:30, the local date", () => {
    inZone("Asia/Kolkata", () => {
      const ms = Date.UTC(2026, 11, 31, 20, 0, 0);
      assert.equal(formatLocalTime(ms), "01/Jan/2027:01:30:00 +0530");
      assert.equal(formatIso8601(ms), "2027-01-01T01:30:00+05:30");
      assert.equal(formatErrorLogTime(ms), "2027/01/01 01:30:00");
    });
  });

  test("a zone west of UTC: a minus sign and the offset's minutes", () => {
    inZone("America/St_Johns", () => {
      const ms = Date.UTC(2026, 0, 15, 2, 0, 1);
      assert.equal(formatLocalTime(ms), "14/Jan/2026:22:30:01 -0330");
      assert.equal(formatIso8601(ms), "2026-01-14T22:30:01-03:30");
    });
  });

  test("values change with the second, not within it", () => {
    inZone("UTC", () => {
      const base = Date.UTC(2026, 5, 1, 12, 0, 0);
      assert.equal(formatLocalTime(base + 10), formatLocalTime(base + 990));
      assert.equal(formatLocalTime(base + 1000), "01/Jun/2026:12:00:01 +0000");
    });
  });
});
