import Foundation

/// Runs a producer on the calling thread and a consumer on a second thread at the same time, handing items over in
/// order through a bounded queue: the report export reads trials from the database (the producer: it must stay on
/// the thread that holds the database connection) while the previous ones are written as JSON (the consumer). At
/// 10,000 trials each side was about half of the export's time (issue 29, docs/benchmarks.md "Harness at scale"),
/// so on two cores the wall time is about the larger half.
///
/// Order is kept (one queue, one consumer), so the consumer sees exactly the sequence a sequential loop would. If
/// either side throws, the other stops at its next hand-over and the first error is rethrown after both have
/// stopped; the consumer's `finish` runs only when the producer ended without an error. The consumer's thread is a
/// joined pthread, so nothing either closure captured outlives the call (the closures may be non-escaping ones made
/// escaping with `withoutActuallyEscaping`).
public enum TwoThreadPipeline {
    /// `produce` hands items to the function it is given (on the calling thread); `consume` receives them in order on
    /// the second thread; `finish` runs there after the last item. Items travel in batches of `batch`, at most
    /// `depth` batches ahead of the consumer.
    public static func run<Item>(batch: Int = 16, depth: Int = 4,
                                 produce: ((Item) throws -> Void) throws -> Void,
                                 consume: (Item) throws -> Void,
                                 finish: () throws -> Void) throws {
        try withoutActuallyEscaping(consume) { consume in
            try withoutActuallyEscaping(finish) { finish in
                let queue = Handoff<Item>(depth: depth)
                let consumer = Consumer(queue: queue, consume: consume, finish: finish)
                var thread = pthread_t()
                let context = Unmanaged<ThreadBody>.passRetained(consumer)
                let started = pthread_create(&thread, nil, { raw in
                    Unmanaged<ThreadBody>.fromOpaque(raw!).takeUnretainedValue().run()
                    return nil
                }, context.toOpaque())
                guard started == 0 else {
                    // No second thread (resource limits): the same work in sequence.
                    context.release()
                    try produce(consume)
                    try finish()
                    return
                }
                var pending: [Item] = []
                pending.reserveCapacity(batch)
                var producerError: Error?
                do {
                    try produce { item in
                        pending.append(item)
                        if pending.count == batch {
                            guard queue.put(pending) else { throw Handoff<Item>.ConsumerStopped() }
                            pending.removeAll(keepingCapacity: true)
                        }
                    }
                    if !pending.isEmpty { _ = queue.put(pending) }
                    queue.close(cancelled: false)
                } catch {
                    producerError = error
                    queue.close(cancelled: true)
                }
                pthread_join(thread, nil)
                let consumerError = consumer.error
                context.release()   // the consumer (and the closures it holds) goes here, before the closures' scope ends
                if let consumerError { throw consumerError }
                if let producerError { throw producerError }
            }
        }
    }

    /// What the second thread runs (not generic: a C function pointer cannot capture a generic parameter).
    private class ThreadBody: @unchecked Sendable { func run() {} }

    /// The second thread's work: take batches until the queue is closed, then `finish` unless cancelled.
    private final class Consumer<Item>: ThreadBody, @unchecked Sendable {
        let queue: Handoff<Item>
        let consume: (Item) throws -> Void
        let finish: () throws -> Void
        var error: Error?   // written by the consumer thread, read by the producer after pthread_join

        init(queue: Handoff<Item>, consume: @escaping (Item) throws -> Void, finish: @escaping () throws -> Void) {
            self.queue = queue
            self.consume = consume
            self.finish = finish
        }

        override func run() {
            do {
                while let items = queue.take() { for item in items { try consume(item) } }
                if !queue.cancelled { try finish() }
            } catch {
                self.error = error
                queue.stop()
            }
        }
    }
}

/// A first-in first-out queue of batches between one producer and one consumer, at most `depth` batches long.
final class Handoff<Item>: @unchecked Sendable {
    struct ConsumerStopped: Error {}

    private let condition = NSCondition()
    private var batches: [[Item]] = []
    private var head = 0
    private var closed = false
    private(set) var cancelled = false
    private var stopped = false
    private let depth: Int

    init(depth: Int) { self.depth = max(1, depth) }

    /// Waits for room; false when the consumer has stopped (its error ends the run).
    func put(_ batch: [Item]) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while batches.count - head >= depth && !stopped { condition.wait() }
        if stopped { return false }
        batches.append(batch)
        condition.broadcast()
        return true
    }

    /// The next batch, or nil once the queue is closed and empty (or cancelled: the rest is dropped).
    func take() -> [Item]? {
        condition.lock()
        defer { condition.unlock() }
        while head == batches.count && !closed { condition.wait() }
        if cancelled || head == batches.count { return nil }
        let b = batches[head]
        batches[head] = []
        head += 1
        if head > 64 && head * 2 > batches.count { batches.removeFirst(head); head = 0 }
        condition.broadcast()
        return b
    }

    /// The producer is done (`cancelled`: it failed, and the consumer must not finish).
    func close(cancelled: Bool) {
        condition.lock()
        closed = true
        self.cancelled = cancelled
        condition.broadcast()
        condition.unlock()
    }

    /// The consumer failed: wake a producer waiting for room.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
