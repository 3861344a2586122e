package onnxml

import "fmt"

// typeName names a TensorProto element type as error messages show it.
func typeName(dt int32) string {
	switch dt {
	case dtFloat:
		return "float"
	case 2:
		return "uint8"
	case 3:
		return "int8"
	case 4:
		return "uint16"
	case 5:
		return "int16"
	case dtInt32:
		return "int32"
	case dtInt64:
		return "int64"
	case dtString:
		return "string"
	case dtBool:
		return "bool"
	case 10:
		return "float16"
	case dtDouble:
		return "double"
	case 12:
		return "uint32"
	case 13:
		return "uint64"
	case 14:
		return "complex64"
	case 15:
		return "complex128"
	case 16:
		return "bfloat16"
	}
	return fmt.Sprintf("element type %d", dt)
}
