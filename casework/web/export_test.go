package web

// NormaliseCode is normaliseCode, for the browser test that holds app.js to it.
var NormaliseCode = normaliseCode
