// gzipper: gzip stdin to stdout with one of the real encoders whose output docker-dedup
// re-creates, so the tests compare the TypeScript encoders with them byte for byte.
//
//	gzipper -encoder stdlib -level 6                 Go's compress/gzip (the toolchain's own)
//	gzipper -encoder pgzip -level -1 -block 1048576   klauspost/pgzip over klauspost/compress
//	gzipper -encoder kflate -level 5                  klauspost/compress/gzip (one stream, no blocks)
//
// Nothing is flushed mid-stream and one Writer makes one stream, as the pushers do.
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

func main() {
	encoder := flag.String("encoder", "stdlib", "stdlib, pgzip or kflate")
	level := flag.Int("level", -1, "compression level (-1: the encoder's default)")
	block := flag.Int("block", 1<<20, "pgzip block size in bytes")
	flag.Parse()
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	var w io.WriteCloser
	var err error
	switch *encoder {
	case "stdlib":
		w, err = gzip.NewWriterLevel(out, *level)
	case "kflate":
		w, err = kgzip.NewWriterLevel(out, *level)
	case "pgzip":
		var pw *pgzip.Writer
		pw, err = pgzip.NewWriterLevel(out, *level)
		if err == nil {
			err = pw.SetConcurrency(*block, 4)
		}
		w = pw
	default:
		err = fmt.Errorf("unknown encoder %q", *encoder)
	}
	if err == nil {
		_, err = io.Copy(w, bufio.NewReaderSize(os.Stdin, 1<<20))
	}
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gzipper:", err)
		os.Exit(1)
	}
}
