"""What the frontend does with the search nodes' seed widgets: the control next to the seed starts
on "randomize", so each run gets fresh candidates (candidate i is seed + i: "increment" would
repeat N - 1 of them). Checked on every tested frontend (the test command's three passes)."""
import pytest

pytestmark = pytest.mark.browser

SEED_JS = """(type) => {
  const n = LiteGraph.createNode(type); app.graph.add(n);
  const seed = n.widgets.find(w => w.name === 'seed');
  const ctl = n.widgets.find(w => w.name === 'control_after_generate');
  const out = {names: n.widgets.map(w => w.name), ctl: ctl ? ctl.value : null, before: seed.value,
               hook: !!(ctl && ctl.afterQueued)};
  if (ctl && ctl.afterQueued) ctl.afterQueued();  // what the frontend runs after queueing a prompt
  out.after = seed.value;
  app.graph.remove(n);
  return out;
}"""


@pytest.mark.parametrize("node", ["NoiseSearchSampler", "NoiseSearchNoiseCandidates"])
def test_seed_control_starts_on_randomize_and_moves_the_seed_away(comfy_page, node):
    page, _log = comfy_page
    res = page.evaluate(SEED_JS, node)
    assert res["ctl"] == "randomize", res
    assert res["hook"], res
    # a randomized seed lands outside the last run's window of candidates (seed .. seed + 4095)
    assert not 0 <= res["after"] - res["before"] < 4096, res
