// The API server's real-kubectl suite and the controllers' Deployment suite again, this time on our own
// bin/store instead of etcd 3.4: the control plane must run unchanged on either engine.
process.env.EKL_STORE = 'ours';
await import('./apiserver-kubectl.test.js');
await import('./controllers-deployment.test.js');
