package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/internal/config"
	"github.com/promptev/promptev-bridge/metrics"
)

// The deployment examples of "Running several replicas" in the README.
const (
	systemdUnit   = "deploy/systemd/promptev-bridge@.service"
	systemdConfig = "deploy/systemd/config.yaml"
	k8sManifest   = "deploy/kubernetes/deployment.yaml"
)

// minStopTimeout is how long a replica may take to stop on SIGTERM with
// the default config: the bridge's shutdown is bounded by
// runs.shutdown_grace plus 10 s (internal/daemon), and the side port's by
// 5 s more.
func minStopTimeout() time.Duration {
	return config.DefaultConfig().Bridge.Runs.ShutdownGrace + 15*time.Second
}

// secretEnv are values for the variables the deployment configs reference.
var secretEnv = map[string]string{
	"DATABASE_URL":         "postgres://bridge:pw@db.internal:5432/bridge",
	"PROMPTEV_PROJECT_KEY": "pk-deploy",
	"PROMPTEV_AGENT_ID":    "agent-deploy",
	"SLACK_BOT_TOKEN":      "xoxb-deploy",
	"SLACK_APP_TOKEN":      "xapp-deploy",
}

var configEnvRef = regexp.MustCompile(`\$\{([A-Z_]+)(?::-[^}]*)?\}`)

// referencedEnv lists the ${NAME}s of a config.
func referencedEnv(cfg string) []string {
	var names []string
	for _, m := range configEnvRef.FindAllStringSubmatch(cfg, -1) {
		names = append(names, m[1])
	}
	return names
}

// checkConfig runs `check --config` on cfg with env set, and returns its
// output.
func checkConfig(t *testing.T, cfg string, env map[string]string) string {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	path := writeFile(t, "config.yaml", cfg)
	code, stdout, stderr := runProgram(t, "", "check", "--config", path, "--print")
	require.Equal(t, exitOK, code, "%s\n%s", stdout, stderr)
	return stdout
}

// unitSettings reads a systemd unit's Key=Value lines (a key given more
// than once keeps every value).
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: %q", path, line)
		out[k] = append(out[k], v)
	}
	require.NoError(t, sc.Err())
	return out
}

// TestDeploySystemdTemplate: the template unit runs `run` on the shared
// config, stops with SIGTERM and waits longer than the shutdown takes,
// restarts on failure, and gives each instance the replica name and side
// port its config uses; the config passes `check` for an instance.
func TestDeploySystemdTemplate(t *testing.T) {
	u := unitSettings(t, systemdUnit)
	assert.Equal(t, []string{"SIGTERM"}, u["KillSignal"])
	assert.Equal(t, []string{"on-failure"}, u["Restart"])
	assert.Equal(t, []string{"/usr/local/bin/promptev-bridge run --config /etc/promptev-bridge/config.yaml"}, u["ExecStart"])
	require.Len(t, u["TimeoutStopSec"], 1)
	stop, err := time.ParseDuration(u["TimeoutStopSec"][0])
	require.NoError(t, err)
	assert.Greater(t, stop, minStopTimeout(), "TimeoutStopSec outlasts the shutdown")
	assert.Equal(t, []string{"PROMPTEV_BRIDGE_REPLICA=%H-%i PROMPTEV_BRIDGE_SIDE_PORT=%i"}, u["Environment"])

	raw, err := os.ReadFile(systemdConfig)
	require.NoError(t, err)
	env := map[string]string{"PROMPTEV_BRIDGE_REPLICA": "host-9464", "INVOCATION_ID": "4f0c5e0d9a3b4c5d", "PROMPTEV_BRIDGE_SIDE_PORT": "0"}
	for k, v := range secretEnv {
		env[k] = v
	}
	for _, name := range referencedEnv(string(raw)) {
		assert.Contains(t, env, name, "the unit or its env file sets %s", name)
	}
	out := checkConfig(t, string(raw), env)
	assert.Contains(t, out, "replica_id: host-9464-4f0c5e0d9a3b4c5d", "a replica id new at every start")
	assert.Contains(t, out, "backend: postgres")
	assert.Contains(t, out, "All checks passed.")
}

// k8sDoc is the part of a Kubernetes object the test reads.
type k8sDoc struct {
	Kind string            `yaml:"kind"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Replicas int `yaml:"replicas"`
		Strategy struct {
			RollingUpdate struct {
				MaxSurge int `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				Containers                    []struct {
					Args []string `yaml:"args"`
					Env  []struct {
						Name      string `yaml:"name"`
						ValueFrom struct {
							SecretKeyRef struct {
								Name string `yaml:"name"`
								Key  string `yaml:"key"`
							} `yaml:"secretKeyRef"`
						} `yaml:"valueFrom"`
					} `yaml:"env"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					ReadinessProbe k8sProbe `yaml:"readinessProbe"`
					LivenessProbe  k8sProbe `yaml:"livenessProbe"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// k8sProbe is an HTTP probe of a container.
type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// TestDeployKubernetes: the Deployment runs three replicas of `run` on the
// ConfigMap's config, which passes `check`; every variable it references
// comes from the Secret; the probes ask the side port's /readyz and
// /healthz, which exist; the grace period outlasts the shutdown; and the
// Socket Mode connections of every pod, a rolling update's surge included,
// stay within Slack's limit.
func TestDeployKubernetes(t *testing.T) {
	raw, err := os.ReadFile(k8sManifest)
	require.NoError(t, err)
	docs := map[string]k8sDoc{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var d k8sDoc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		docs[d.Kind] = d
	}
	cfg, ok := docs["ConfigMap"].Data["config.yaml"]
	require.True(t, ok, "the ConfigMap holds config.yaml")
	dep := docs["Deployment"]
	assert.Equal(t, 3, dep.Spec.Replicas)
	pod := dep.Spec.Template.Spec
	assert.Greater(t, time.Duration(pod.TerminationGracePeriodSeconds)*time.Second, minStopTimeout())
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, []string{"run", "--config", "/etc/promptev-bridge/config.yaml"}, c.Args)

	secrets := map[string]string{}
	for _, e := range c.Env {
		assert.Equal(t, "promptev-bridge", e.ValueFrom.SecretKeyRef.Name, e.Name)
		secrets[e.Name] = e.ValueFrom.SecretKeyRef.Key
	}
	assert.Equal(t, "DATABASE_URL", secrets["DATABASE_URL"], "DATABASE_URL comes from the Secret")
	for _, name := range referencedEnv(cfg) {
		assert.Contains(t, secrets, name, "the config references %s", name)
	}

	// The probes: the named port is the side port of the config.
	require.Len(t, c.Ports, 1)
	assert.Equal(t, "side", c.ReadinessProbe.HTTPGet.Port)
	assert.Equal(t, "side", c.LivenessProbe.HTTPGet.Port)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	var parsed struct {
		HTTP struct {
			Listen string `yaml:"listen"`
		} `yaml:"http"`
		Slack struct {
			Mode string `yaml:"mode"`
		} `yaml:"slack"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(cfg), &parsed))
	host, port, err := net.SplitHostPort(parsed.HTTP.Listen)
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0", host, "the kubelet reaches the side port on the pod's address")
	assert.Equal(t, port, strconv.Itoa(c.Ports[0].ContainerPort))
	side := metrics.NewServer(metrics.ServerOptions{}).Handler()
	for _, path := range []string{c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path} {
		rec := httptest.NewRecorder()
		side.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, http.StatusOK, rec.Code, "the side port serves %s", path)
	}

	assert.Equal(t, slack.ModeSocket, parsed.Slack.Mode)
	pods := dep.Spec.Replicas + dep.Spec.Strategy.RollingUpdate.MaxSurge
	assert.LessOrEqual(t, pods*slack.DefaultSocketConnections, slack.MaxSocketConnections, "Socket Mode connections per app")

	// The side port is bound by check: use a free one here.
	out := checkConfig(t, strings.Replace(cfg, parsed.HTTP.Listen, "127.0.0.1:0", 1), secretEnv)
	assert.Contains(t, out, "All checks passed.")
	assert.Contains(t, out, `replica_id: ""`, "left to the pod's name and a random suffix")
}

// TestReadmeShowsDeployFiles: the README shows the deployment examples as
// they are in the repository.
func TestReadmeShowsDeployFiles(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for _, f := range []string{systemdUnit, systemdConfig, k8sManifest} {
		raw, err := os.ReadFile(filepath.FromSlash(f))
		require.NoError(t, err)
		assert.Contains(t, string(readme), "\n"+string(raw)+"```\n", "README.md shows %s as it is", f)
		assert.Contains(t, string(readme), "("+f+")", "README.md links %s", f)
	}
}
