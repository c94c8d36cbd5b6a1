"""A binary min-heap of grid nodes with decrease-key, for the marching kernels (olim's march, the
sweep's ordered pass).

1-based: ``heap[1..count]`` holds node indices and ``hv[loc]`` the value of ``heap[loc]``, so sifting
touches two contiguous arrays only; ``pos[node]`` is the node's slot (0 when not in the heap). A
decrease-key is ``heap_sift_up(heap, hv, pos, pos[node], node, v)``.

Numba's on-disk cache keys a kernel on its own file: after editing this module, clear the cache
(``$FWPOTENTIAL_CACHE_DIR``, see ``fwpotential._cache``) so that the kernels calling it recompile.
"""

from numba import njit

__all__ = ["heap_pop", "heap_push", "heap_sift_up"]


@njit(cache=True)
def heap_sift_up(heap, hv, pos, loc, node, v):
    """Place node with value v at slot loc or above."""
    while loc > 1:
        parent = loc >> 1
        if hv[parent] <= v:
            break
        heap[loc] = heap[parent]
        hv[loc] = hv[parent]
        pos[heap[loc]] = loc
        loc = parent
    heap[loc] = node
    hv[loc] = v
    pos[node] = loc


@njit(cache=True)
def heap_push(heap, hv, pos, count, node, v):
    """Insert node with value v; returns the new count."""
    count += 1
    heap_sift_up(heap, hv, pos, count, node, v)
    return count


@njit(cache=True)
def heap_pop(heap, hv, pos, count):
    """Remove the root; returns (node, new count)."""
    top = heap[1]
    pos[top] = 0
    last = heap[count]
    v = hv[count]
    count -= 1
    if count > 0:
        loc = 1
        while True:
            c = 2 * loc
            if c > count:
                break
            if c + 1 <= count and hv[c + 1] < hv[c]:
                c += 1
            if hv[c] >= v:
                break
            heap[loc] = heap[c]
            hv[loc] = hv[c]
            pos[heap[loc]] = loc
            loc = c
        heap[loc] = last
        hv[loc] = v
        pos[last] = loc
    return top, count
