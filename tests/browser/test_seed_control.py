"""What the frontend does with the search nodes' seed widgets: the control next to the seed starts
on "randomize", so each run gets fresh candidates; "increment" and "decrement" move the seed by the
span of stock seeds the run used (candidate i is seed + i), so consecutive runs share no candidate.
Checked on every tested frontend (the test command's three passes)."""
import pytest

from tests.browser.test_ui import _check_console

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


STEP_JS = """([mode, strategy, widgets, sets]) => {
  const n = LiteGraph.createNode('NoiseSearchSampler'); app.graph.add(n);
  const w = (node, name) => node.widgets.find(x => x.name === name);
  for (const [k, v] of Object.entries(sets)) w(n, k).value = v;
  if (strategy) {
    const s = LiteGraph.createNode(strategy); app.graph.add(s);
    for (const [k, v] of Object.entries(widgets)) w(s, k).value = v;
    s.connect(0, n, n.inputs.findIndex(i => i.name === 'strategy'));
  }
  const seed = w(n, 'seed');
  const ctl = w(n, 'control_after_generate');
  ctl.value = mode;
  seed.value = 1000;
  // what the frontend runs around queueing a prompt ("control before generate" mode uses beforeQueued)
  ctl.beforeQueued?.(); ctl.afterQueued();
  const after = seed.value;
  app.graph.clear();
  return after;
}"""


@pytest.mark.parametrize("mode,strategy,widgets,sets,want", [
    ("increment", None, {}, {"candidates": 4}, 1004),
    ("decrement", None, {}, {"candidates": 4}, 996),
    ("increment", "NoiseSearchRandom", {"candidates": 6}, {"candidates": 4}, 1006),
    ("increment", "NoiseSearchPaths", {"n": 3}, {"candidates": 4}, 1003),
    ("increment", "NoiseSearchParticles", {"particles": 5}, {"candidates": 4}, 1005),
    # zero-order draws only `seed` itself as a stock seed (the rest are derived from it): + 1 is fresh
    ("increment", "NoiseSearchZeroOrder", {"n_neighbors": 4}, {"candidates": 4}, 1001),
    ("fixed", None, {}, {"candidates": 4}, 1000),
])
def test_increment_moves_the_seed_past_the_last_runs_candidates(comfy_page, ui_host, mode, strategy, widgets,
                                                                 sets, want):
    page, log = comfy_page
    assert page.evaluate(STEP_JS, [mode, strategy, widgets, sets]) == want
    _check_console(log, ui_host.url)


NOISE_JS = """() => {
  const n = LiteGraph.createNode('NoiseSearchSamplerAdvanced'); app.graph.add(n);
  const r = LiteGraph.createNode('RandomNoise'); app.graph.add(r);
  n.widgets.find(x => x.name === 'candidates').value = 3;
  const seed = r.widgets.find(x => x.name === 'noise_seed');
  const ctl = r.widgets.find(x => x.name === 'control_after_generate');
  ctl.value = 'increment';
  seed.value = 1000;
  const step = () => { ctl.beforeQueued?.(); ctl.afterQueued(); return seed.value; };
  const alone = step();  // a Random Noise node that feeds no search keeps the stock step
  r.connect(0, n, n.inputs.findIndex(i => i.name === 'noise'));
  const linked = step();
  app.graph.clear();
  return [alone, linked];
}"""


def test_random_noise_of_an_advanced_search_increments_by_its_candidates(comfy_page, ui_host):
    page, log = comfy_page
    assert page.evaluate(NOISE_JS) == [1001, 1004]
    _check_console(log, ui_host.url)
