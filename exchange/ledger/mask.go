package ledger

import "govx"

// MaskedOther is what MaskSubject shows for a key that is neither an ID
// number nor a unified social credit code.
const MaskedOther = govx.MaskedOther

// MaskSubject hides whose data an audit entry concerns, for operator
// views: the rule is govx.MaskSubject, shared with the departments'
// provider logs.
func MaskSubject(key string) string { return govx.MaskSubject(key) }

// MaskText masks every ID number inside free text; see govx.MaskText.
func MaskText(s string) string { return govx.MaskText(s) }
