package events

import "github.com/cloudevents/sdk-go/v2/types"

func typesFormat(v any) (string, error) { return types.Format(v) }
