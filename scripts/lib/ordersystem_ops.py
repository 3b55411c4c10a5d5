"""Shared by scripts/faults and benchmarks/run: the scripts/stack servers, the services as processes, HTTP helpers
and a load generator. Standard library only."""

import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STACK = os.path.join(ROOT, "scripts", "stack")


def stack(*args, check_status=True):
    result = subprocess.run([STACK, *args], cwd=ROOT, capture_output=True, text=True)
    if check_status and result.returncode != 0:
        raise RuntimeError(f"scripts/stack {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def sql(query):
    """Rows of a query run as root over the socket, as lists of strings."""
    output = stack("sql", "-N", "-B", "-e", query)
    return [line.split("\t") for line in output.splitlines() if line]


def queue_depths():
    output = stack("rabbitmqctl", "list_queues", "-q", "name", "messages", check_status=False)
    depths = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            depths[parts[0]] = int(parts[1])
    return depths


def stack_environment():
    env = dict(os.environ)
    for line in stack("env").splitlines():
        match = re.match(r"export (\w+)=(.*)", line)
        if match:
            env[match.group(1)] = match.group(2)
    return env


class Service:
    """One service process; started, stopped and killed like a process manager would."""

    PORT_VARIABLE = {"order-service": "SERVICE_PORT", "analytics-service": "SERVICE_PORT", "notification-worker": "HEALTH_PORT"}
    DATABASE = {
        "order-service": ("orderuser", "orderpass", "order_db"),
        "analytics-service": ("analyticsuser", "analyticspass", "analytics_db"),
    }

    def __init__(self, kind, port, workdir, binary, environment, log_level="info", ops_port=None):
        self.kind, self.port, self.workdir, self.binary = kind, port, workdir, binary
        self.environment = dict(environment)
        self.environment[self.PORT_VARIABLE[kind]] = str(port)
        if ops_port is not None:
            self.environment["OPS_PORT"] = str(ops_port)
        self.environment["LOG_LEVEL"] = log_level
        self.environment["DATA_DIR"] = os.path.join(workdir, f"{kind}-{port}")
        if kind in self.DATABASE:
            user, password, name = self.DATABASE[kind]
            self.environment.update(DB_USER=user, DB_PASSWORD=password, DB_NAME=name)
        self.process = None
        self.url = f"http://127.0.0.1:{port}"
        # /health and /metrics: on the ops port when the service has one.
        self.ops_url = f"http://127.0.0.1:{ops_port}" if ops_port is not None else self.url
        self.log_path = os.path.join(workdir, f"{kind}-{port}.log")

    def start(self, wait=True):
        os.makedirs(self.environment["DATA_DIR"], exist_ok=True)
        log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [self.binary, self.kind], env=self.environment, stdout=log_file, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        log_file.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=60, interval=0.1):
        if not wait_healthy(self.ops_url, self.process, timeout, interval):
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} on {self.port} exited with {self.process.returncode}; see {self.log_path}")
            raise RuntimeError(f"{self.kind} on {self.port} not ready within {timeout} s; see {self.log_path}")

    def signal(self, number):
        if self.process and self.process.poll() is None:
            self.process.send_signal(number)

    def stop(self, timeout=30):
        """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit status."""
        if not self.process:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self):
        if self.process:
            self.process.kill()
            self.process.wait()

    def metric(self, name, labels=""):
        return metric(self.ops_url, name, labels)

    def rss_kib(self):
        """Resident memory of the process in KiB, from /proc (None once it has exited)."""
        try:
            with open(f"/proc/{self.process.pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (OSError, AttributeError):
            return None
        return None

    def health(self):
        status, body = http_get(self.ops_url + "/health", timeout=5)
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {}


def wait_healthy(url, process=None, timeout=60, interval=0.1):
    """True once `url`/health answers 200; False after `timeout` seconds or as soon as `process` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        status, _ = http_get(url + "/health", timeout=1)
        if status == 200:
            return True
        time.sleep(interval)
    return False


def http_get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (OSError, http.client.HTTPException) as error:
        return None, str(error)


def metric(base_url, name, labels=""):
    """The value of one sample on a /metrics page (0 when absent, None when the page cannot be read)."""
    status, body = http_get(base_url + "/metrics", timeout=3)
    if status != 200:
        return None
    wanted = name + (("{" + labels + "}") if labels else "")
    for line in body.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == wanted:
            return float(parts[1])
    return 0.0


def summary(analytics):
    status, body = http_get(analytics.url + "/analytics/summary")
    if status != 200:
        return None
    data = json.loads(body, parse_float=Decimal)
    return int(data["total_orders"]), Decimal(data["total_revenue"])


def eventually(predicate, timeout, interval=0.2):
    """Polls `predicate` until it is truthy or `timeout` seconds pass; returns (value, seconds waited)."""
    start = time.monotonic()
    while True:
        value = predicate()
        if value or time.monotonic() - start >= timeout:
            return value, time.monotonic() - start
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------------------------

class Load:
    """Creates `total` orders from `concurrency` keep-alive clients, optionally paced to `rate` per second, against
    one or more order services. Records every 201 (id and amount) and every other outcome."""

    def __init__(self, tag, total, concurrency=16, rate=None, urls=()):
        self.tag, self.total, self.concurrency, self.rate, self.urls = tag, total, concurrency, rate, list(urls)
        self.lock = threading.Lock()
        self.next_index = 0
        self.created = {}  # order id -> Decimal amount
        self.completions = []  # time.monotonic() of each 201, in the order they arrived
        self.errors = {}  # outcome -> count
        self.started = None
        self.threads = []

    def _take(self):
        with self.lock:
            if self.next_index >= self.total:
                return None
            index = self.next_index
            self.next_index += 1
            return index

    def _worker(self, worker):
        connection = None
        url_index = worker % len(self.urls)
        while True:
            index = self._take()
            if index is None:
                break
            if self.rate:
                due = self.started + index / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            cents = 100 + (index * 37) % 99_900
            amount = Decimal(cents) / 100
            # The amount as exact decimal text, as a client should send money.
            body = (f'{{"customer_id": "{self.tag}-{index % 50}", "product_id": "product-{index % 7}", '
                    f'"quantity": {1 + index % 4}, "total_amount": {amount}}}')
            host, port = self.urls[url_index].replace("http://", "").split(":")
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(host, int(port), timeout=10)
                connection.request("POST", "/orders", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                if response.status == 201:
                    order = json.loads(payload)
                    with self.lock:
                        self.created[order["id"]] = amount
                        self.completions.append(time.monotonic())
                else:
                    self._count(f"http {response.status}")
            except (OSError, http.client.HTTPException) as error:
                self._count(type(error).__name__)
                if connection is not None:
                    connection.close()
                connection = None
                url_index = (url_index + 1) % len(self.urls)  # another instance, if there is one
                time.sleep(0.05)
        if connection is not None:
            connection.close()

    def _count(self, outcome):
        with self.lock:
            self.errors[outcome] = self.errors.get(outcome, 0) + 1

    def start(self):
        self.started = time.monotonic()
        self.threads = [threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(self.concurrency)]
        for thread in self.threads:
            thread.start()
        return self

    def progress(self):
        with self.lock:
            return self.next_index

    def join(self, timeout=300):
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0, deadline - time.monotonic()))
        return self

    def revenue(self):
        return sum(self.created.values(), Decimal(0))

    def describe(self):
        errors = ", ".join(f"{count} {outcome}" for outcome, count in sorted(self.errors.items())) or "none"
        return f"{len(self.created)} of {self.total} answered 201; other outcomes: {errors}"


def http_post(base_url, body, headers=None):
    request = urllib.request.Request(base_url + "/orders", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return None, str(error)
