// app.js — inline validation for the clerks' UI, no framework.
//
// Inputs marked data-validate="idnumber" or data-validate="uscc" are
// checked as they are typed and again before the form is sent. The checks
// are exactly those of govx.ValidateIDNumber (idnumber.go) and
// govx.ValidateUSCC (uscc.go), position for position, so that the browser
// never accepts what the server refuses nor the reverse; the server
// re-validates whatever arrives. Keep the two in step: the browser test
// compares them on thousands of inputs.
//
// Messages come from the page (<script type="application/json"
// id="govx-messages">: the catalogue's "js." keys in the page's language).
(function () {
  "use strict";

  var messages = {};
  try {
    var el = document.getElementById("govx-messages");
    if (el) messages = JSON.parse(el.textContent || "{}") || {};
  } catch (e) {
    messages = {};
  }

  function msg(key, args) {
    var s = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    (args || []).forEach(function (a, i) {
      s = s.split("{" + i + "}").join(String(a));
    });
    return s;
  }

  function fail(key) {
    return { key: key, args: Array.prototype.slice.call(arguments, 1) };
  }

  // Go indexes strings by byte; so do we, over the UTF-8 encoding.
  var encoder = new TextEncoder();
  function runeCount(s) {
    return Array.from(s).length;
  }
  function isDigit(b) {
    return b >= 48 && b <= 57;
  }
  function pad(n, width) {
    var s = String(n);
    while (s.length < width) s = "0" + s;
    return s;
  }
  function num(bytes, from, to) {
    var n = 0;
    for (var i = from; i < to; i++) n = n * 10 + (bytes[i] - 48);
    return n;
  }
  function chr(b) {
    return b < 128 ? String.fromCharCode(b) : "\\x" + b.toString(16);
  }

  // --- GB 11643 resident identity number (idnumber.go) ---

  var ID_LEN = 18;
  var ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var ID_CHECK = "10X98765432";
  var EARLIEST_BIRTH_YEAR = 1800;

  function daysIn(year, month) {
    if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
    if (month === 4 || month === 6 || month === 9 || month === 11) return 30;
    return 31;
  }

  // todayCST is today's date in China as YYYYMMDD, whatever the browser's zone.
  function todayCST() {
    var d = new Date(Date.now() + 8 * 3600 * 1000);
    return d.getUTCFullYear() * 10000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
  }

  // idnumber returns null for a valid number, else {key, args}. partial
  // (while typing) reports only faults the characters typed so far already
  // have, never that the number is too short.
  function idnumber(s, partial) {
    var b = encoder.encode(s);
    var n = runeCount(s);
    if (partial && n < ID_LEN) {
      for (var p = 0; p < b.length && p < ID_LEN - 1; p++) {
        if (!isDigit(b[p])) return fail("id.digit", p + 1);
      }
      return null;
    }
    if (b.length !== ID_LEN) {
      if (n === ID_LEN) return fail("id.nonascii");
      return fail("id.length", n);
    }
    var sum = 0;
    for (var i = 0; i < ID_LEN - 1; i++) {
      if (!isDigit(b[i])) return fail("id.digit", i + 1);
      sum += (b[i] - 48) * ID_WEIGHTS[i];
    }
    var last = b[ID_LEN - 1];
    if (last === 120) return fail("id.lower_x"); // x
    if (last !== 88 && !isDigit(last)) return fail("id.last"); // X
    var year = num(b, 6, 10), month = num(b, 10, 12), day = num(b, 12, 14);
    if (month < 1 || month > 12) return fail("id.month", pad(month, 2));
    if (day < 1 || day > daysIn(year, month)) return fail("id.day", pad(day, 2), pad(month, 2), pad(year, 4));
    if (year < EARLIEST_BIRTH_YEAR) return fail("id.year", pad(year, 4));
    if (year * 10000 + month * 100 + day > todayCST()) return fail("id.future");
    var want = ID_CHECK.charCodeAt(sum % 11);
    if (last !== want) return fail("id.check", chr(last), chr(want));
    return null;
  }

  // --- GB 32100 unified social credit code (uscc.go) ---

  var USCC_LEN = 18;
  var USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  var USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
  function usccValue(b) {
    return b < 128 ? USCC_ALPHABET.indexOf(String.fromCharCode(b)) : -1;
  }

  function uscc(s, partial) {
    var b = encoder.encode(s);
    var n = runeCount(s);
    if (partial && n < USCC_LEN) {
      for (var p = 2; p < 8 && p < b.length; p++) {
        if (!isDigit(b[p])) return fail("uscc.division");
      }
      for (var q = 0; q < b.length && q < USCC_LEN - 1; q++) {
        if (usccValue(b[q]) < 0) return fail("uscc.char", chr(b[q]), q + 1);
      }
      return null;
    }
    if (b.length !== USCC_LEN) return fail("uscc.length", n);
    for (var i = 2; i < 8; i++) {
      if (!isDigit(b[i])) return fail("uscc.division");
    }
    var sum = 0;
    for (var j = 0; j < USCC_LEN - 1; j++) {
      var v = usccValue(b[j]);
      if (v < 0) return fail("uscc.char", chr(b[j]), j + 1);
      sum += v * USCC_WEIGHTS[j];
    }
    var want = USCC_ALPHABET.charCodeAt((31 - (sum % 31)) % 31);
    var last = b[USCC_LEN - 1];
    if (usccValue(last) < 0) return fail("uscc.check_alphabet", chr(last));
    if (last !== want) return fail("uscc.check", chr(want));
    return null;
  }

  var validators = { idnumber: idnumber, uscc: uscc };

  // normalise brings a code typed with a Chinese input method to its
  // standard form, as the server's normaliseCode (normalise.go) does:
  // full-width forms folded to ASCII, the ideographic space to a space,
  // letters to upper case, surrounding spaces trimmed.
  function normalise(s) {
    var out = "";
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c >= 0xff01 && c <= 0xff5e) c -= 0xfee0;
      else if (c === 0x3000) c = 32;
      if (c >= 97 && c <= 122) c -= 32;
      out += String.fromCharCode(c);
    }
    // Go's unicode.IsSpace, which strings.TrimSpace trims.
    var space = "[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
    return out.replace(new RegExp("^" + space + "+|" + space + "+$", "g"), "");
  }

  // For tests and for pages that validate something themselves.
  window.govxValidate = {
    idnumber: function (s) { return idnumber(s, false); },
    uscc: function (s) { return uscc(s, false); },
    message: function (r) { return r ? msg(r.key, r.args) : ""; },
    normalise: normalise
  };

  // --- wiring ---

  // check validates one input and shows the outcome under it. The value
  // is normalised as the server normalises it, and the note under the
  // field says what it was normalised to; once the clerk leaves the field
  // (not partial) the field shows the normalised value itself.
  function check(input, partial) {
    var v = validators[input.getAttribute("data-validate")];
    if (!v) return true;
    var value = normalise(input.value);
    var note = document.getElementById(input.id + "-note");
    if (note) note.textContent = value !== input.value.trim() ? msg("normalised", [value]) : "";
    if (!partial && value !== input.value) input.value = value;
    var out = value === "" ? null : v(value, partial);
    var errEl = document.getElementById(input.id + "-error");
    var field = input.closest(".field");
    if (out) {
      input.setAttribute("aria-invalid", "true");
      if (errEl) errEl.textContent = msg(out.key, out.args);
      if (field) field.classList.add("has-error");
      return false;
    }
    input.removeAttribute("aria-invalid");
    if (errEl) errEl.textContent = "";
    if (field) field.classList.remove("has-error");
    return true;
  }

  function validated(t) {
    return t && t.matches && t.matches("[data-validate]");
  }

  document.addEventListener("input", function (e) {
    if (validated(e.target)) check(e.target, true);
  });
  document.addEventListener("change", function (e) {
    if (validated(e.target)) check(e.target, false);
  });
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var first = null;
    form.querySelectorAll("[data-validate]").forEach(function (input) {
      if (!check(input, false) && !first) first = input;
    });
    if (first) {
      e.preventDefault();
      first.focus();
      return;
    }
    // One click, one submission; the hidden form id catches the rest.
    var buttons = form.querySelectorAll("button[type=submit]");
    setTimeout(function () {
      buttons.forEach(function (b) { b.disabled = true; });
    }, 0);
  });
})();
