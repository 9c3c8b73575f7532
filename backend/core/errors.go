package core

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/go-multierror"
)

// Error is a failure caused by the request rather than by the engine: bad input,
// an unknown id, a name already in use. Status is the HTTP status Vault answers
// with (400 unless stated otherwise); Msg is Vault's message, verbatim.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// UserErrorf builds a 400 Error.
func UserErrorf(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// AsError reports whether err is (or wraps) a request error and returns it.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// UserError turns err into a 400 Error; a multierror with one error shows
// just that error's message. nil stays nil.
func UserError(err error) error {
	if err == nil {
		return nil
	}
	var me *multierror.Error
	if errors.As(err, &me) && len(me.Errors) == 1 {
		err = me.Errors[0]
	}
	return &Error{Status: http.StatusBadRequest, Msg: err.Error()}
}

// ErrEntityDisabled refuses an entity whose disabled flag is set wherever it
// would act for itself (caller paths, MFA validation): Vault refuses every
// request of a token whose entity is disabled with 403.
var ErrEntityDisabled = &Error{Status: http.StatusForbidden, Msg: "permission denied: the entity is disabled"}
