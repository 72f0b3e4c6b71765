// A uPlot time-series chart: x in seconds, one series per label. Re-created when its data changes (uPlot
// draws 30 days of hourly points in a few milliseconds); sized to its container.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface Series {
  label: string;
  values: Array<number | null>;
  color: string;
  /** Second y axis (e.g. cost next to tokens). */
  right?: boolean;
}

export function Chart(props: { title: string; xs: number[]; series: Series[]; unit?: string; rightUnit?: string; id: string; /** x range in seconds */ window?: [number, number] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const hasRight = props.series.some((s) => s.right);
    const opts: uPlot.Options = {
      width: Math.max(300, el.clientWidth),
      height: 220,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: props.window ? { time: true, range: () => props.window! } : { time: true } },
      axes: [
        {},
        { label: props.unit ?? '', size: 60 },
        ...(hasRight ? [{ scale: 'right', side: 1 as const, label: props.rightUnit ?? '', grid: { show: false }, size: 60 }] : []),
      ],
      series: [{}, ...props.series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, scale: s.right ? 'right' : 'y', spanGaps: false }))],
    };
    // The x range drawn (seconds), on the figure once uPlot has set it: what a test can check the axis by.
    opts.hooks = {
      setScale: [
        (u, key) => {
          const fig = el.parentElement;
          if (key !== 'x' || !fig) return;
          fig.dataset.xMin = String(Math.round(u.scales.x!.min ?? 0));
          fig.dataset.xMax = String(Math.round(u.scales.x!.max ?? 0));
        },
      ],
    };
    const plot = new uPlot(opts, [props.xs, ...props.series.map((s) => s.values)] as uPlot.AlignedData, el);
    const onResize = () => plot.setSize({ width: Math.max(300, el.clientWidth), height: 220 });
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      plot.destroy();
    };
  }, [props.xs, props.series, props.window]);
  return (
    <figure class="chart" data-chart={props.id}>
      <figcaption>{props.title}</figcaption>
      <div ref={box} role="img" aria-label={`${props.title} chart`} />
    </figure>
  );
}
