package core

// Opt is an optional input: Set tells whether the request carried the field at
// all, which Vault distinguishes from an empty value ("metadata": {} clears,
// an absent metadata keeps what is stored).
type Opt[T any] struct {
	Set bool
	Val T
}

// Some returns an Opt holding v.
func Some[T any](v T) Opt[T] { return Opt[T]{Set: true, Val: v} }
