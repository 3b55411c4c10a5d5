-- wrk script: POST /orders with a unique body per request (customer id = thread number + counter).
-- Counts answers that are not 201 and prints them at the end, so a fast run of errors is not mistaken for speed.
local threads = {}
local next_id = 0

function setup(thread)
    thread:set("thread_id", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
end

function init(args)
    counter = 0
    unexpected = 0
end

function request()
    counter = counter + 1
    local cents = counter % 99999 + 1
    local body = string.format(
        '{"customer_id":"bench-%d-%d","product_id":"product-%d","quantity":%d,"total_amount":%d.%02d}',
        thread_id, counter, counter % 100, counter % 5 + 1, math.floor(cents / 100), cents % 100)
    return wrk.format("POST", "/orders", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
    if status ~= 201 then
        unexpected = unexpected + 1
    end
end

function done(summary, latency, requests)
    local total = 0
    for _, thread in ipairs(threads) do
        total = total + thread:get("unexpected")
    end
    io.write(string.format("non-201 answers: %d\n", total))
end
