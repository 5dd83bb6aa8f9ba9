// hall.js — the online service hall's few behaviours, no framework.
//
// After sign-in the hall answers with a page whose "continue" link
// carries data-auto: it is followed at once (a navigation from the hall's
// own page, so the browser sends the session cookie; see signin.go).
(function () {
  "use strict";
  var c = document.getElementById("continue");
  if (c && c.getAttribute("data-auto")) {
    window.location.replace(c.href);
  }
})();
