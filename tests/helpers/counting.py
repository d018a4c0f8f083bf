"""A stage's worker wrapped: it counts the captions the stage hands it, and raises after `fail_after` batches, as a
job that is killed mid-run."""


class Counting:
    def __init__(self, inner, fail_after=None, verb="negate"):
        self.inner, self.name, self.fail_after, self.seen, self.batches = inner, inner.name, fail_after, [], 0
        self.verb = verb
        setattr(self, verb, self._call)  # the method the stage calls: negate, rewrite

    def _call(self, items):
        if self.fail_after is not None and self.batches == self.fail_after:
            raise KeyboardInterrupt("killed")
        self.batches += 1
        self.seen += [k for k, _ in items]
        return getattr(self.inner, self.verb)(items)
