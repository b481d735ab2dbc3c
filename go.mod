module github.com/ringmaster-io/ringmaster

go 1.26.8

require (
	github.com/go-zookeeper/zk v1.0.4 // indirect
	github.com/gocql/gocql v1.7.0 // indirect
	github.com/golang/snappy v0.0.3 // indirect
	github.com/hailocab/go-hostpool v0.0.0-20160125115350-e80d13ce29ed // indirect
	go.uber.org/goleak v1.3.0 // indirect
	gopkg.in/inf.v0 v0.9.1 // indirect
)
