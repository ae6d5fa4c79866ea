// Command compose-check loads a Compose file the way `docker compose` does (the Compose
// Specification's reference loader, which the docker compose CLI itself uses), with the
// variables of one env file and every profile enabled, and fails on any error or warning:
// schema violations, unknown keys, services or volumes referred to but not declared, a
// variable the env file does not define. It also fails when a bind mount's source or a
// build's Dockerfile is missing, which Docker would otherwise turn into an empty directory
// at `up` time.
//
//	compose-check --env-file .env.example docker-compose.yml
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

// warnings collects what the loader logs at warning level or above; the loader reports
// unset variables and obsolete or ambiguous syntax only this way.
type warnings struct {
	mu    sync.Mutex
	lines []string
}

func (w *warnings) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (w *warnings) Fire(entry *logrus.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, entry.Message)
	return nil
}

func main() {
	envFile := flag.String("env-file", ".env.example", "the only source of variables")
	name := flag.String("project-name", "hoso", "the project name")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [--env-file FILE] COMPOSE_FILE\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	problems, summary, err := check(flag.Arg(0), *envFile, *name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
		os.Exit(1)
	}
	if len(problems) > 0 {
		for _, problem := range problems {
			fmt.Fprintf(os.Stderr, "compose-check: %s\n", problem)
		}
		os.Exit(1)
	}
	fmt.Println(summary)
}

func check(composeFile, envFile, name string) ([]string, string, error) {
	collected := &warnings{}
	logrus.AddHook(collected)
	// The hook keeps them; printing them too would only repeat the failure message.
	logrus.SetOutput(nopWriter{})

	composeFile, err := filepath.Abs(composeFile)
	if err != nil {
		return nil, "", err
	}
	if _, err := os.Stat(envFile); err != nil {
		return nil, "", err
	}
	dir := filepath.Dir(composeFile)
	options, err := cli.NewProjectOptions(
		[]string{composeFile},
		cli.WithName(name),
		cli.WithWorkingDirectory(dir),
		// The env file alone, not the caller's environment: a variable that only happens
		// to be exported on this machine must not hide one the file lacks.
		cli.WithEnvFiles(envFile),
		cli.WithDotEnv,
		cli.WithProfiles([]string{"*"}),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		return nil, "", err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return nil, "", err
	}

	var problems []string
	collected.mu.Lock()
	for _, line := range collected.lines {
		problems = append(problems, "warning: "+line)
	}
	collected.mu.Unlock()
	problems = append(problems, missingFiles(project)...)

	summary := fmt.Sprintf("%s: %d services, %d volumes, %d variables from %s: ok",
		filepath.Base(composeFile), len(project.Services), len(project.Volumes),
		len(project.Environment), envFile)
	return problems, summary, nil
}

// missingFiles lists bind-mount sources and Dockerfiles that do not exist.
func missingFiles(project *types.Project) []string {
	var problems []string
	names := make([]string, 0, len(project.Services))
	for serviceName := range project.Services {
		names = append(names, serviceName)
	}
	sort.Strings(names)
	for _, serviceName := range names {
		service := project.Services[serviceName]
		for _, volume := range service.Volumes {
			if volume.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(volume.Source); err != nil {
				problems = append(problems, fmt.Sprintf(
					"service %s mounts %s, which does not exist", serviceName, volume.Source))
			}
		}
		if service.Build != nil {
			dockerfile := service.Build.Dockerfile
			if dockerfile == "" {
				dockerfile = "Dockerfile"
			}
			if !filepath.IsAbs(dockerfile) {
				dockerfile = filepath.Join(service.Build.Context, dockerfile)
			}
			if _, err := os.Stat(dockerfile); err != nil {
				problems = append(problems, fmt.Sprintf(
					"service %s builds from %s, which does not exist", serviceName,
					strings.TrimPrefix(dockerfile, project.WorkingDir+"/")))
			}
		}
	}
	return problems
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
