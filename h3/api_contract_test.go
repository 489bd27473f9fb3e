package reqivoh3_test

// The HTTP/3 API of API.md with its exact signatures: a rename or a changed
// signature breaks the build here first.

import (
	"github.com/reqivo/reqivo"

	reqivoh3 "github.com/reqivo/reqivo/h3"
)

var (
	_ func(...reqivoh3.Setting) reqivo.Option = reqivoh3.Option
	_ func() reqivoh3.Setting                 = reqivoh3.Only
)
