package bench

import (
	_ "github.com/redis/go-redis/v9"
	_ "github.com/valkey-io/valkey-go"
	_ "redcore"
)
