# facefleet: the operator's and the developer's entry points.
#   make controller  the controller's venv only (Ansible and the app): what production needs
#   make demo   set up everything, bring up the 5-host lab, deploy, run a batch of photos
#   make test   lint, unit tests, the app's test suite, and both Molecule scenarios:
#               production (SSH, two networks, bare metal) and cluster (its last verifier
#               stage is the chaos suite)
#   make chaos  the chaos suite on the lab that `make demo` left running (LAB=lab-replicated:
#               on the replicated lab, with its failover scenario)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PYTHON    ?= python3
STAMP     := $(VENV)/.installed
CONTROLLER_STAMP := $(VENV)/.controller
IMAGE_TAG := .cache/lab-image
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The controller's wheelhouse cache (the app role's app_wheelhouse_cache): in the checkout.
export FACEFLEET_CACHE_DIR := $(CURDIR)/.cache
# The lab image tag (a hash of lab/build-image.sh), once `make lab-image` has built it.
export FACEFLEET_LAB_IMAGE = $(shell cat $(IMAGE_TAG) 2>/dev/null)
export FACEFLEET_CGROUP_MODE = $(shell [ "$$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && echo rw || echo ro)
# Seconds the Docker modules (lab-up, lab-down, Molecule's create and destroy) wait for one
# answer from dockerd. Their default, 60, is too short here while the other make test lane
# loads the machine: removing a container once took longer, and failed a green run.
export DOCKER_TIMEOUT := 300

.PHONY: help controller collection-link collection setup venv docker lab-image lab-up lab-down deploy demo lint test-unit test-app \
        molecule molecule-production molecule-cluster prerequisites chaos test bench bench-pools bench-bulk bench-metrics bench-scale bench-failover clean

help:
	@echo "make controller    the controller's venv (Ansible, the app): no root, no Docker"
	@echo "make demo          set up, bring up the lab, deploy, enrol, run a batch, print results"
	@echo "make test          lint + unit tests + app tests + Molecule (production; cluster + chaos)"
	@echo "make chaos         the chaos suite on the running lab (after make demo)"
	@echo "make lab-up        start the lab's containers      make lab-down   remove them"
	@echo "  LAB=lab-replicated  lab-up, deploy, chaos, bench-failover on the replicated lab"
	@echo "make deploy        ansible-playbook playbooks/deploy.yml against the lab"
	@echo "make bench         app/bench/detection_modes.py: speed, recall, memory (figures)"
	@echo "make bench-bulk    app/bench/bulk_memory.py: worker memory on large files (figures)"
	@echo "make bench-metrics app/bench/metrics_overhead.py: pipeline metrics on and off (figures)"
	@echo "make bench-scale   bench/scale_lab.py on the running lab (figures)"
	@echo "make bench-failover bench/failover_lab.py: write cost and failover time (replicated lab)"

setup: venv docker

# What a production controller needs, and nothing else: a venv with Ansible and the app
# (its CLI submits and enrols; the playbooks build its wheelhouse). No root, no Docker, no
# apt: Python 3.11+ with venv and pip, git and make are all it asks of the machine.
controller: $(CONTROLLER_STAMP)
$(CONTROLLER_STAMP): requirements-controller.txt app/constraints.txt app/pyproject.toml
	@$(PYTHON) -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	  || { echo "setup: needs Python 3.11 or newer with venv (Debian: apt-get install python3-venv)" >&2; exit 1; }
	@echo "setup: creating $(VENV) with $$($(PYTHON) --version)"
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q -r requirements-controller.txt
	@$(VENV)/bin/pip install -q -c app/constraints.txt -e 'app[flower,guard,metrics]'
	@$(MAKE) --no-print-directory collection-link
	@touch $(CONTROLLER_STAMP)

# This checkout as the facefleet.fleet collection, for ansible.cfg's collections_path.
collection-link:
	@mkdir -p .cache/collections/ansible_collections/facefleet
	@ln -sfn ../../../.. .cache/collections/ansible_collections/facefleet/fleet

# The developers' venv: the controller's, plus Molecule, the linters and the test tools;
# and the apt packages the lab and the tests need on this machine.
venv: $(STAMP)
$(STAMP): requirements-controller.txt requirements-dev.txt app/constraints.txt app/pyproject.toml
	@bash lab/controller-packages.sh
	@$(MAKE) --no-print-directory controller
	@$(VENV)/bin/pip install -q --upgrade pip
	@$(VENV)/bin/pip install -q -r requirements-dev.txt
	@# face_recognition only as the tests' reference; --no-deps: it names `dlib`,
	@# which pip would compile from source (dlib-bin is the prebuilt one).
	@$(VENV)/bin/pip install -q --no-deps face-recognition==1.3.0
	@touch $(STAMP)

docker:
	@bash lab/ensure-docker.sh

lab-image: docker
	@mkdir -p .cache
	@bash lab/build-image.sh > $(IMAGE_TAG).new && mv $(IMAGE_TAG).new $(IMAGE_TAG)

# The lab that lab-up, lab-down, deploy, chaos and bench-failover act on:
# inventory/$(LAB). lab (the default) has one Redis; lab-replicated adds a second Redis
# host and three Sentinels, on a network of its own:
#   make lab-up deploy chaos LAB=lab-replicated
LAB ?= lab
LAB_INVENTORY := inventory/$(LAB)

lab-up: venv lab-image
	@ansible-playbook -i $(LAB_INVENTORY) lab/lab-up.yml

lab-down: venv
	@ansible-playbook -i $(LAB_INVENTORY) lab/lab-down.yml

deploy: lab-up
	@ansible-playbook -i $(LAB_INVENTORY) playbooks/deploy.yml

demo:
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory deploy && \
	$(VENV)/bin/python lab/demo.py && \
	echo "make demo: done in $$(( $$(date +%s) - start )) s"

lint: venv
	@echo "==> ruff"; ruff check . && ruff format --check . && (cd app && ruff check . && ruff format --check .)
	@echo "==> yamllint"; yamllint -s .
	@echo "==> ansible-lint (production profile)"; ansible-lint -q

# The scale planner and the wheelhouse builder: Ansible-side Python, unit-tested.
test-unit: venv
	@pytest -q tests

# The app against the real photos, a real redis-server and real Celery workers.
test-app: venv
	@cd app && pytest -q

# The collection's release tarball (galaxy.yml), in .cache/dist/.
collection: controller
	@ansible-galaxy collection build --force --output-path .cache/dist | tail -n 1

# SCENARIO_PART: one part of the run (make test's lanes), "--until PHASE" or "--from
# PHASE" (molecule/run-scenario.sh); empty: the whole scenario.
SCENARIO_PART ?=
molecule-cluster: venv lab-image collection
	@bash molecule/run-scenario.sh cluster $(SCENARIO_PART)

# Production as operators run it: the README's production steps over SSH from a non-root
# controller, and its bare-metal steps on a machine of their own (molecule/production).
molecule-production: venv lab-image collection
	@bash molecule/run-scenario.sh production

molecule: molecule-production molecule-cluster

# Kill workers, restart Redis, scale down, restart a host, send junk: 300 real images
# each, on the lab `make demo` left running (make test runs the same suite as the
# cluster scenario's last verifier stage). Ends with one line:
#   chaos: <n> scenarios, <lost> lost, <dup> duplicates
chaos: venv
	@$(VENV)/bin/python bench/chaos_lab.py --inventory $(LAB_INVENTORY)

# Everything make test's phases need, built once before they run side by side.
prerequisites: venv lab-image collection

# lint, test-unit, test-app and the cluster scenario up to its idempotence run, beside
# molecule-production; then the cluster's verifiers (the chaos suite last) alone. Ends
# with each phase's time (lab/make-test.sh).
test:
	@bash lab/make-test.sh

# Detection modes against face_recognition's default use: speed, recall, false names,
# memory (app/bench/detection_modes.py). bench-pools: the pools, prefork against threads.
# bench-bulk: a worker's memory on 20 MB scans, the image in the message or under a key.
# bench-metrics: images per second with the pipeline's metrics on and off.
bench: venv
	@$(VENV)/bin/python app/bench/detection_modes.py

bench-pools: venv
	@$(VENV)/bin/python app/bench/pipeline_throughput.py

bench-bulk: venv
	@$(VENV)/bin/python app/bench/bulk_memory.py

bench-metrics: venv
	@$(VENV)/bin/python app/bench/metrics_overhead.py

# On a fleet whose Redis is replicated (LAB=lab-replicated, or INVENTORY=<any such
# fleet of containers>): what the write settings cost, and the time from stopping the
# primary's host until tasks flow again (bench/failover_lab.py).
bench-failover: venv
	@$(VENV)/bin/python bench/failover_lab.py --inventory $(or $(INVENTORY),$(LAB_INVENTORY))

# On the lab that `make demo` left running: a deploy that changes nothing, scaling 2 -> 5
# against the seed's docker-compose --scale (which needs docker-compose), and the lab's
# throughput against the bare library (bench/scale_lab.py).

bench-scale: venv
	@command -v docker-compose >/dev/null || { echo "setup: installing docker-compose from apt"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
	@$(VENV)/bin/python bench/scale_lab.py

clean: lab-down
	rm -rf .cache $(VENV)
