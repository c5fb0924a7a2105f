import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from '../lib/config.ts';
import { ParleyStack } from '../lib/parley-stack.ts';

// The CDK app: `npm run synth` (cdk synth --quiet). Configuration comes from CDK context; see
// lib/config.ts for the keys. The stack is environment-agnostic (no account or region here), so
// it synthesizes offline without credentials; `cdk deploy` picks the account and region from the
// caller's AWS profile.

const app = new App();
const config = configFromContext((key) => app.node.tryGetContext(key));

new ParleyStack(app, `Parley-${config.stage}`, { config });

// cdk-nag 3 runs as a policy-validation plugin: unacknowledged findings fail the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
