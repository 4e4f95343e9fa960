// The floor of the comparison benchmark (scripts/bench.sh): a module worker that does
// nothing but answer, on the same local runtime as tiw-push-edge.
export default {
  fetch() {
    return new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
  },
};
