module docker-dedup/gzip-vectors

go 1.20

require (
	github.com/klauspost/compress v1.15.12
	github.com/klauspost/pgzip v1.2.5
)
