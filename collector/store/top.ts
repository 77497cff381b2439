// The first k of n items in an order without sorting all n: a bounded binary heap, O(n log k).
// A list endpoint asked for 100 of 200k flows must not sort 200k on every request.

/** Returns the k smallest items by cmp, sorted, and how many items there were in all. */
export function topK<T>(items: Iterable<T>, k: number, cmp: (a: T, b: T) => number): { items: T[]; total: number } {
  // A max-heap of the best k so far: its root is the worst kept item, the one a better item replaces.
  const heap: T[] = [];
  let total = 0;
  const worse = (i: number, j: number) => cmp(heap[i], heap[j]) > 0;
  const swap = (i: number, j: number) => {
    const t = heap[i];
    heap[i] = heap[j];
    heap[j] = t;
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1,
        r = l + 1;
      let m = i;
      if (l < heap.length && worse(l, m)) m = l;
      if (r < heap.length && worse(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  for (const it of items) {
    total++;
    if (k <= 0) continue;
    if (heap.length < k) {
      heap.push(it);
      for (let i = heap.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (!worse(i, p)) break;
        swap(i, p);
        i = p;
      }
    } else if (cmp(it, heap[0]) < 0) {
      heap[0] = it;
      down(0);
    }
  }
  return { items: heap.sort(cmp), total };
}
