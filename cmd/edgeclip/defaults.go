package main

import "os"

// defaultModelPath is the model used when --model is not given: $EDGECLIP_MODEL,
// or empty until a shipped model is embedded.
func defaultModelPath() string { return os.Getenv("EDGECLIP_MODEL") }
