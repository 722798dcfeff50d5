"""Turn bench/scale.py results into the table and chart of docs/benchmarks.md.

    .venv/bin/python bench/scale_report.py bench/results/scale.json [more.json ...]

Results files are merged (a later file's workload replaces an earlier
one's), every metric is compared with issue 9's target, and the section
between the `scale:begin`/`scale:end` markers of docs/benchmarks.md is
rewritten; the chart goes to docs/scale.png (needs matplotlib:
`pip install matplotlib`).
"""

import argparse
import json
import os
import statistics
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = '<!-- scale:begin -->', '<!-- scale:end -->'

# metric -> (target text, test(this, upstream) -> bool); absolute targets
# for the big collections, ratios to upstream for the project.
ABSOLUTE = {
    'launch s': 1, 'find cold s': 1, 'ls -lR cold s': 3, 'ls -lR warm s': 1,
    'ls -lR cold cpu s': 3, 'ls -lR warm cpu s': 1,
}
COLLECTION_RSS = 120
MILLION = {'peak RSS MiB': 1024, 'slowest ls of home/ during first listing s': 1,
           'slowest ls of home/ during find s': 1}
ORDER = ['launch s', 'first listing s', 'first ls s', 'warm ls s', 'first ls -l s', 'warm ls -l s',
         'find cold s', 'find warm s', 'find s', 'ls -lR cold s', 'ls -lR warm s', 'ls -lR cold cpu s',
         'ls -lR warm cpu s', 'slowest ls of home/ during first listing s', 'slowest ls of home/ during find s',
         'peak RSS MiB']
PROJECT_SPEEDUP = {'warm ls s': 2, 'warm ls -l s': 2, 'first ls s': 1.5}


def median(xs):
    return statistics.median(xs) if xs else None


def cell(r, metric):
    if r is None:
        return '–'
    xs = r.get(metric) or []
    if not xs:
        return r.get('note', '–')
    if len(xs) == 1:
        return '%.2f' % xs[0]
    return '%.2f [%.2f–%.2f]' % (statistics.median(xs), min(xs), max(xs))


def target(workload, metric, this, upstream):
    """(target text, met) for one row; (None, None) when untargeted."""
    t, u = median((this or {}).get(metric)), median((upstream or {}).get(metric))
    if workload.startswith('collection 1000000'):
        if metric in MILLION:
            return '≤ %g' % MILLION[metric], t is not None and t <= MILLION[metric]
        if metric == 'find s':
            return 'completes', t is not None
        return None, None
    if workload.startswith('collection'):
        if metric in ABSOLUTE:
            return '≤ %g' % ABSOLUTE[metric], t is not None and t <= ABSOLUTE[metric]
        if metric == 'peak RSS MiB':
            return '≤ %d' % COLLECTION_RSS, t is not None and t <= COLLECTION_RSS
        return None, None
    if workload.startswith('project'):
        if metric in PROJECT_SPEEDUP:
            need = PROJECT_SPEEDUP[metric]
            ok = t is not None and u is not None and t > 0 and u / t >= need
            return '≥ %gx faster than upstream' % need, ok
        if metric == 'peak RSS MiB':
            return '≤ upstream', t is not None and u is not None and t <= u
    return None, None


def ratio(this, upstream, metric):
    t, u = median((this or {}).get(metric)), median((upstream or {}).get(metric))
    if t is None or u is None or t <= 0:
        return '–'
    return '%.1fx' % (u / t)


def markdown(data):
    results = data['results']
    lines = [BEGIN, '',
             '%s, %s cores, Python %s; `%s`.  Medians of the runs with [min–max]; times in seconds.  '
             '"ratio" is upstream / this (above 1: this is faster or smaller).'
             % (data.get('date', '?'), data.get('machine', {}).get('cpus', '?'),
                data.get('machine', {}).get('python', '?'), data.get('command', '')),
             '',
             '| workload | metric | this | upstream 3.2.1 | ratio | floor | target | met |',
             '|---|---|---|---|---|---|---|---|']
    for workload, impls in results.items():
        this, upstream, floor = impls.get('this'), impls.get('upstream'), impls.get('floor')
        metrics = []
        for r in impls.values():
            metrics += [k for k in r if k != 'note' and k not in metrics]
        metrics.sort(key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER))
        for metric in metrics:
            goal, met = target(workload, metric, this, upstream)
            lines.append('| %s | %s | %s | %s | %s | %s | %s | %s |' % (
                workload, metric, cell(this, metric), cell(upstream, metric), ratio(this, upstream, metric),
                cell(floor, metric) if floor and metric in floor else '–', goal or '–',
                '–' if met is None else ('yes' if met else '**no**')))
    lines += ['', '![scale benchmark](scale.png)', '', END]
    return '\n'.join(lines)


def _did_not_finish(r):
    """The time limit a run was stopped at ('did not finish in 60 s'), or None."""
    words = r.get('note', '').split()
    return float(words[-2]) if len(words) >= 2 and words[-1] == 's' else None


def chart(data, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    results = data['results']
    panels = [(w, [m for m in ('launch s', 'find cold s', 'find warm s', 'ls -lR cold s', 'ls -lR warm s',
                               'first listing s', 'find s', 'first ls s', 'warm ls s', 'first ls -l s',
                               'warm ls -l s') if any(m in r for r in results[w].values())])
              for w in results]
    panels.append(('peak RSS', None))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5))
    colours = {'this': '#1f77b4', 'upstream': '#ff7f0e', 'floor': '#7f7f7f'}
    for ax, (workload, metrics) in zip(axes, panels):
        if metrics is None:
            names = list(results)
            for k, impl in enumerate(('this', 'upstream')):
                vals = [median(results[w].get(impl, {}).get('peak RSS MiB')) or 0 for w in names]
                ax.bar([i + k * 0.4 for i in range(len(names))], vals, 0.4, label=impl, color=colours[impl])
            ax.set_xticks([i + 0.2 for i in range(len(names))])
            ax.set_xticklabels([n.replace(' files', '\nfiles').replace(' collections', '\ncollections')
                                for n in names], fontsize=8)
            ax.set_ylabel('MiB')
            ax.set_title('peak RSS')
            ax.legend()
            continue
        impls = [i for i in ('this', 'upstream', 'floor') if i in results[workload]]
        width = 0.8 / len(impls)
        for k, impl in enumerate(impls):
            r = results[workload][impl]
            xs = [i + k * width for i in range(len(metrics))]
            vals = [median(r.get(m)) for m in metrics]
            ax.bar(xs, [v or 0 for v in vals], width, label=impl, color=colours[impl])
            limit = _did_not_finish(r)
            for x, v in zip(xs, vals):
                if v is None and limit:
                    # Did not finish: a hatched bar up to where it was stopped.
                    ax.bar([x], [limit], width, color='none', edgecolor=colours[impl], hatch='//')
                    ax.text(x, limit, 'DNF', ha='center', va='bottom', fontsize=7)
        ax.set_xticks([i + width * (len(impls) - 1) / 2 for i in range(len(metrics))])
        ax.set_xticklabels([m[:-2] for m in metrics], rotation=30, ha='right', fontsize=8)
        ax.set_yscale('log')
        ax.set_ylabel('seconds (log)')
        ax.set_title(workload)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('results', nargs='+')
    p.add_argument('--md', default=os.path.join(REPO, 'docs', 'benchmarks.md'))
    p.add_argument('--png', default=os.path.join(REPO, 'docs', 'scale.png'))
    args = p.parse_args()
    data = None
    for path in args.results:
        with open(path) as f:
            d = json.load(f)
        if data is None:
            data = d
        else:
            data['results'].update(d['results'])
            data['command'] += '` and `' + d['command']
    section = markdown(data)
    with open(args.md) as f:
        doc = f.read()
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + section + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip('\n') + '\n\n## Big collections and projects (`bench/scale.py`)\n\n' + section + '\n'
    with open(args.md, 'w') as f:
        f.write(doc)
    try:
        chart(data, args.png)
    except ImportError:
        print('matplotlib is not installed: table written, chart not', file=sys.stderr)


if __name__ == '__main__':
    main()
