package planner

import "github.com/quarry/quarry/parser"

// Public messages of the insights API, kept as Error.Message.
const (
	MsgInvalidTable  = "Invalid table name"
	MsgInvalidColumn = "Incorrect column name"
	MsgInvalidQuery  = "Invalid query"
	MsgInvalidValue  = "Invalid value"
	MsgForbidden     = "Forbidden"
)

// Error is a validation error: Message is the short public text an API
// puts in its `message` field, Detail says what is wrong and how to fix it.
// When Pos is set (Pos.Line > 0) it points into the query text.
type Error struct {
	Pos     parser.Pos
	Message string
	Detail  string
}

func (e *Error) Error() string {
	if e.Pos.Line > 0 {
		return e.Pos.String() + ": " + e.Detail
	}
	return e.Detail
}

// Position returns where in the query text the error is (Line 0: nowhere).
func (e *Error) Position() parser.Pos { return e.Pos }

func errAt(pos parser.Pos, msg, detail string) *Error {
	return &Error{Pos: pos, Message: msg, Detail: detail}
}
