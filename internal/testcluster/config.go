package testcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// jvm17Options are the JDK 17 module flags from Cassandra 5.0's
// conf/jvm17-server.options: without them Cassandra cannot reach the JDK
// internals it uses (Unsafe, direct buffers, attach, the compiler API).
var jvm17Options = []string{
	"-Djdk.attach.allowAttachSelf=true",
	"--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
	"--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
	"--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
	"--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
	"--add-exports", "java.sql/java.sql=ALL-UNNAMED",
	"--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
	"--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
	"--add-exports", "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
	"--add-exports", "jdk.attach/sun.tools.attach=ALL-UNNAMED",
	"--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
	"--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
	"--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
	"--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
	"--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
	"--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
	"--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
	"--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
	"--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
	"--add-opens", "java.base/java.io=ALL-UNNAMED",
	"--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
	"--add-opens", "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
	"--add-opens", "java.base/java.lang=ALL-UNNAMED",
	"--add-opens", "java.base/java.util=ALL-UNNAMED",
	"-Dio.netty.tryReflectionSetAccessible=true",
	"-Dio.netty.allocator.useCacheForAllThreads=true",
	"-Dio.netty.allocator.maxOrder=11",
}

// consoleLogback logs at INFO to the console, which the process runner sends
// to the server's log file. Both servers use logback; without a file of our
// own they log at DEBUG.
const consoleLogback = `<configuration scan="false">
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%%d{HH:mm:ss.SSS} %%-5level [%%thread] %%logger{36} - %%msg%%n</pattern></encoder>
  </appender>
  <root level="%s"><appender-ref ref="STDOUT"/></root>
</configuration>
`

func writeFiles(files map[string]string) error {
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("create folder for %s: %w", path, err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// zooKeeperConfig renders zoo.cfg for one server of spec. A spec with one
// server runs standalone. sec is nil unless spec.Secure. ZooKeeper turns
// the keys it does not know (ssl.*, enforce.auth.*, authProvider.*) into
// "zookeeper."-prefixed system properties, which is where it reads them.
func zooKeeperConfig(spec Spec, s ZooKeeperServer, dataDir string, sec *Security) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tickTime=1000\ninitLimit=10\nsyncLimit=5\n")
	fmt.Fprintf(&b, "dataDir=%s\n", dataDir)
	fmt.Fprintf(&b, "clientPortAddress=%s\nclientPort=%d\n", s.Host, s.ClientPort)
	fmt.Fprintf(&b, "maxSessionTimeout=60000\n")
	fmt.Fprintf(&b, "admin.enableServer=false\n")
	fmt.Fprintf(&b, "4lw.commands.whitelist=mntr,srvr,ruok,stat,conf,cons,wchs\n")
	fmt.Fprintf(&b, "autopurge.purgeInterval=1\nautopurge.snapRetainCount=3\n")
	// Smaller transaction-log preallocation: the dev cluster's disk is shared.
	fmt.Fprintf(&b, "preAllocSize=8192\n")
	// Snapshot and roll the transaction log every 64 MiB of log instead of
	// ZooKeeper's 4 GiB, so that autopurge can keep the data folders small:
	// the soak test of internal/zk writes 525 MB through every server.
	fmt.Fprintf(&b, "snapSizeLimitInKb=65536\n")
	if sec != nil {
		fmt.Fprintf(&b, "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n")
		fmt.Fprintf(&b, "secureClientPortAddress=%s\nsecureClientPort=%d\n", s.Host, s.SecurePort)
		fmt.Fprintf(&b, "ssl.keyStore.location=%s\nssl.keyStore.type=PEM\n", sec.ServerPEM)
		fmt.Fprintf(&b, "ssl.trustStore.location=%s\nssl.trustStore.type=PEM\n", sec.CA)
		fmt.Fprintf(&b, "ssl.clientAuth=need\nssl.hostnameVerification=false\n")
		fmt.Fprintf(&b, "authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider\n")
		fmt.Fprintf(&b, "enforce.auth.enabled=true\nenforce.auth.schemes=digest\n")
		fmt.Fprintf(&b, "DigestAuthenticationProvider.superDigest=%s\n", DigestID("super", sec.ZooKeeperSuperPassword))
	}
	if len(spec.ZooKeeper) > 1 {
		fmt.Fprintf(&b, "standaloneEnabled=false\nreconfigEnabled=false\n")
		for _, p := range spec.ZooKeeper {
			fmt.Fprintf(&b, "server.%d=%s:%d:%d\n", p.ID, p.Host, p.PeerPort, p.ElectionPort)
		}
	}
	return b.String()
}

// cassandraConfig renders cassandra.yaml for node n of spec. Every node is a
// seed and none bootstraps: the cluster starts empty, so its nodes may start
// together. sec is nil unless spec.Secure: then clients must log in and
// speak TLS, and roles and permissions are read afresh on every request
// (no caches), so that a grant or a revoke holds at once.
func cassandraConfig(spec Spec, n CassandraNode, dataDir string, sec *Security) string {
	seeds := make([]string, len(spec.Cassandra))
	for i, s := range spec.Cassandra {
		seeds[i] = fmt.Sprintf("%s:%d", s.Address, s.StoragePort)
	}
	auth := "authenticator: AllowAllAuthenticator\nauthorizer: AllowAllAuthorizer\n"
	if sec != nil {
		auth = fmt.Sprintf(`authenticator: PasswordAuthenticator
authorizer: CassandraAuthorizer
role_manager: CassandraRoleManager
roles_validity: 0ms
permissions_validity: 0ms
credentials_validity: 0ms
client_encryption_options:
  enabled: true
  optional: false
  require_client_auth: false
  ssl_context_factory:
    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
  keystore: %s
`, sec.ServerPEM)
	}
	return fmt.Sprintf(`cluster_name: ringmaster-%[6]s
num_tokens: 16
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: GossipingPropertyFileSnitch
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories:
  - %[1]s/data
commitlog_directory: %[1]s/commitlog
saved_caches_directory: %[1]s/saved_caches
hints_directory: %[1]s/hints
cdc_raw_directory: %[1]s/cdc_raw
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "%[2]s"
listen_address: %[3]s
rpc_address: %[3]s
storage_port: %[4]d
native_transport_port: %[5]d
start_native_transport: true
auto_bootstrap: false
auto_snapshot: false
%[7]sconcurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
`, dataDir, strings.Join(seeds, ","), n.Address, n.StoragePort, n.NativePort, clusterName(spec), auth)
}

// clusterName is Cassandra's cluster_name: "dev" for the full and single
// variants (their data folders are shared), the variant's name otherwise.
func clusterName(spec Spec) string {
	if spec.Secure {
		return spec.Name
	}
	return "dev"
}

func cassandraRackDC(n CassandraNode) string {
	return fmt.Sprintf("dc=%s\nrack=%s\n", n.Datacenter, n.Rack)
}
