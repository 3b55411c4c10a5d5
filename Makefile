# Convenience commands, as the original's Makefile, plus the local (no Docker) ones. `make help` lists them.
# The Docker targets need a Docker engine with Compose v2 (`docker compose`); set COMPOSE="docker-compose" for v1.

COMPOSE ?= docker compose
ORDER_URL ?= http://localhost:8080
ANALYTICS_URL ?= http://localhost:8081
NOTIFICATION_URL ?= http://localhost:8082

.DEFAULT_GOAL := help
.PHONY: help test build up down logs clean restart order analytics notification stack-up stack-down run e2e

help: ## Show every target with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

test: ## Run every test against local MariaDB, Redis and RabbitMQ (scripts/test; no Docker)
	scripts/test

build: ## Build the Docker image of the three services (Dockerfile)
	$(COMPOSE) build

up: ## Start MySQL, Redis, RabbitMQ and the three services in Docker (waits until all are healthy)
	$(COMPOSE) up --build -d --wait

down: ## Stop the Docker services (data volumes are kept)
	$(COMPOSE) down

logs: ## Follow the logs of every Docker service
	$(COMPOSE) logs -f

clean: ## Stop the Docker services and delete their data volumes
	$(COMPOSE) down -v --remove-orphans

restart: ## Restart the Docker services
	$(COMPOSE) restart

order: ## Create a sample order (POST localhost:8080/orders)
	curl -sS -i -X POST $(ORDER_URL)/orders \
		-H "Content-Type: application/json" \
		-d '{"customer_id": "customer-123", "product_id": "product-456", "quantity": 2, "total_amount": 99.99}'
	@echo

analytics: ## Show the analytics summary (GET localhost:8081/analytics/summary)
	curl -sS $(ANALYTICS_URL)/analytics/summary
	@echo

notification: ## Show the notification worker's recent logs, health and counters
	-$(COMPOSE) logs --tail=20 notification-worker
	curl -sS $(NOTIFICATION_URL)/health
	@echo
	curl -sS $(NOTIFICATION_URL)/metrics | grep -E '^notifications_' || true

stack-up: ## Start local MariaDB, Redis and RabbitMQ without Docker (scripts/stack up)
	scripts/stack up

stack-down: ## Stop the local servers (scripts/stack down)
	scripts/stack down

run: ## Run all three services in one process, nothing to install (swift run ordersystem)
	swift run ordersystem

e2e: ## Run the end-to-end scenario (scripts/e2e)
	scripts/e2e
