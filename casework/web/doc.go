// Package web is the clerks' web UI of the case workflow: server-rendered
// pages (html/template, no front-end framework) for the window clerk, the
// back-office reviewers and the supervisors, and a public progress lookup.
// It holds no case logic; pages call package casework.
//
// # Sessions, roles, forms
//
// The browser keeps the user's govx JWT in the cookie govx_session
// (HttpOnly, SameSite=Strict, Secure with Config.SecureCookies, scoped to
// the prefix). ServeHTTP verifies it on every request with
// Config.Verifier; an expired or invalid token deletes the cookie and the
// next page that needs a user redirects to /ui/login?reason=<code of
// internal/auth>&next=<page>. In demo mode (Config.DemoUsers and Mint) the
// login page signs in as a demo user with one click.
//
// Every POST must carry the hidden field _csrf, an HMAC (per-process key,
// or Config.CSRFKey) over the session token or, before sign-in, over a
// random nonce cookie; without it the answer is a 403 page with code
// csrf_invalid. It also carries _form_id, a random one-time id that pages
// use as the idempotency key of what the form does (ui.formID(r)): a double
// click or a reloaded POST sends the same id twice.
//
// # Adding a page
//
//  1. Template: templates/<name>.html defines "title" and "content"; the
//     layout (templates/layout.html) wraps it with the header, the menu
//     and the flash. The page's own data is .Data; .User is the
//     *auth.Claims of the signed-in user (nil for a visitor); .Lang is "zh"
//     or "en". Files are embedded and parsed once at New.
//  2. Messages: every text is {{t "key"}} or {{t "key" arg...}} (fmt verbs),
//     with the key in messages.json in both zh and en. TestCatalogueComplete
//     fails for a key a template, app.js or the Go code uses that is missing
//     in either language, for keys nothing uses, and for languages that fill
//     in different arguments.
//  3. Forms: method="post", {{formFields}} inside (CSRF token and form id),
//     fields through the partial:
//     {{template "field" (field "name" (t "label.key") .Value (fieldErr .Errs "name") "idnumber" (t "hint.key"))}}
//     The fifth argument turns on the inline checks of assets/app.js
//     ("idnumber", "uscc" or ""); the server checks again regardless. A
//     form-wide error goes in {{template "formError" (fieldErr .Errs "form")}}.
//  4. Handler: a method on *UI. Read the user with ui.user(r), the language
//     with ui.lang(r). On invalid input re-render with status 422 and the
//     errors in a fieldErrors map (keyed by field name, values *govx.Error,
//     shown as message + code); on success ui.setFlash(w, flash{Kind: "ok",
//     Key: "flash.<x>", Args: ...}) and ui.redirect(w, r, ui.url("<page>"))
//     (POST-redirect-GET). Errors that are not the user's go to
//     ui.renderError(w, r, status, err), which logs internal ones once.
//     Dates and times: {{datetime .T}} and {{date .T}} show China Standard
//     Time (internal/workday.Zone).
//  5. Route and roles: one line in routeAll, e.g.
//     ui.handle("GET /intake", []string{RoleClerk}, http.HandlerFunc(ui.intakePage)).
//     roles nil is a public page, an empty slice any signed-in user, else
//     the user's role must be listed; other roles get a rendered 403
//     (role_forbidden) in their language. A GET page whose path is in the
//     navigation table (intake, review, supervision, progress, check,
//     accesses) appears in the menu for the roles that may open it.
//  6. Tests: HTTP tests as in session_test.go (a cookie-jar client; formOf
//     reads the hidden fields), and a real-browser test with
//     internal/browsertest as in browser_test.go.
//
// Charts are SVG drawn in Go (chart.go, timeline.go), put in the page as
// template.HTML: every text in them goes through esc, and each comes with
// a title, a description and its numbers as text.
//
// ID numbers and credit codes typed into a form are normalised
// (normaliseCode: full-width to ASCII, upper case, trimmed) before they are
// checked, on the server and, as they are typed, by app.js.
//
// Static files live in assets/ and are linked with {{asset "app.css"}},
// which names them by content hash so they can be cached for a year.
package web
